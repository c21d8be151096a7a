"""The target precision admins set on the taxonomy page: stored, audited, refused when
out of range, and followed by the next model's "needs a human" thresholds."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from triage.learning import training
from triage.learning.training import train_model
from triage.models import TaxonomyChange, TrainingRun, TriagePolicy
from triage.taxonomy import policy

pytestmark = [pytest.mark.django_db]


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_sets_the_target_precision_and_a_retrain_is_queued(admin_user: Any, settings: Any) -> None:
    settings.TARGET_PRECISION = 0.95
    assert policy.target_precision() == 0.95  # nothing chosen yet: the deployment's default
    page = logged_in(admin_user).get("/taxonomy/").content.decode()
    assert 'value="95"' in page and "(the default)" in page

    response = logged_in(admin_user).post("/taxonomy/", {"action": "precision", "target_precision": "97.5 %"})
    assert response.status_code == 302
    assert policy.target_precision() == 0.975
    change = TaxonomyChange.objects.get(action=TaxonomyChange.Action.PRECISION)
    assert change.before == {"target_precision": 0.95} and change.after == {"target_precision": 0.975}
    assert change.retrain_run is not None and change.retrain_run.trigger == TrainingRun.Trigger.TAXONOMY
    page = logged_in(admin_user).get("/taxonomy/").content.decode()
    assert "97.5\u00a0%" in page and 'value="97.5"' in page

    # The same value again changes nothing and queues nothing; empty goes back to the default.
    assert policy.target_precision_set(actor=admin_user, value="97.5") is None
    logged_in(admin_user).post("/taxonomy/", {"action": "precision", "target_precision": ""})
    assert TriagePolicy.objects.get().target_precision is None and policy.target_precision() == 0.95
    assert TaxonomyChange.objects.filter(action=TaxonomyChange.Action.PRECISION).count() == 2


def test_saving_the_precision_already_in_effect_audits_and_retrains_nothing(admin_user: Any, settings: Any) -> None:
    settings.TARGET_PRECISION = 0.95
    assert (
        logged_in(admin_user).post("/taxonomy/", {"action": "precision", "target_precision": "95"}).status_code == 302
    )
    assert not TaxonomyChange.objects.exists() and not TrainingRun.objects.exists()


NOT_A_NUMBER = "Write the target precision as a percentage, e.g. 95."
OUT_OF_RANGE = "The target precision is between 50% and 99.9%."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", NOT_A_NUMBER),
        ("49", OUT_OF_RANGE),
        ("99.95", OUT_OF_RANGE),
        ("100", OUT_OF_RANGE),
        ("nan", OUT_OF_RANGE),
        ("inf", OUT_OF_RANGE),
        ("-95", OUT_OF_RANGE),
        ("1e9", OUT_OF_RANGE),
        ("9" * 30, "Ensure this value has at most 20 characters"),
    ],
)
def test_a_target_precision_out_of_range_is_refused_and_nothing_is_stored(
    admin_user: Any, value: str, message: str
) -> None:
    response = logged_in(admin_user).post("/taxonomy/", {"action": "precision", "target_precision": value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TriagePolicy.objects.exists() or TriagePolicy.objects.get().target_precision is None
    assert not TaxonomyChange.objects.exists() and not TrainingRun.objects.exists()


def test_only_admins_set_the_target_precision(agent: Any, supervisor: Any) -> None:
    for user in (agent, supervisor):
        assert logged_in(user).post("/taxonomy/", {"action": "precision", "target_precision": "99"}).status_code == 403
    assert (
        Client().post("/taxonomy/", {"action": "precision", "target_precision": "99"}).status_code == 302
    )  # to the login
    assert not TriagePolicy.objects.exists()


def test_a_training_run_keeps_the_target_it_read_when_it_started(history: Any, monkeypatch: Any) -> None:
    # An admin saves another target while the model trains: the candidate's thresholds
    # and the scores the gate compares stay those of the target the run started with.
    reads = iter([0.9])
    monkeypatch.setattr(training, "target_precision", lambda: next(reads, 0.999))
    version = train_model().version
    assert version.metrics["holdout"]["abstention"]["target_precision"] == 0.9


def test_the_next_model_picks_its_thresholds_for_the_admins_target(history: Any, admin_user: Any) -> None:
    lenient = train_model().version.metrics["holdout"]["abstention"]
    policy.target_precision_set(actor=admin_user, value="99.9")
    strict = train_model().version.metrics["holdout"]["abstention"]
    assert lenient["target_precision"] != 0.999 and strict["target_precision"] == 0.999
    # A stricter target never lowers the confidence a suggestion needs.
    assert strict["min_confidence"] >= lenient["min_confidence"]
