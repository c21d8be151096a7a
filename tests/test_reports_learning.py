"""Drift against the training reference, the quality-check sample, and the
acceptance-floor retrain."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from django.http import QueryDict
from django.test import Client
from django.utils import timezone

from tests.reports_data import DAY2, RANGE, at, seed
from triage import services
from triage.learning import triggers
from triage.models import DecisionFact, ModelReference, QualityCheck, Ticket, TrainingRun
from triage.reports import services as reports
from triage.reports.filters import parse_filter
from triage.reports.selectors import agents, drift

pytestmark = pytest.mark.django_db


def window() -> Any:
    params = QueryDict(mutable=True)
    params.update(RANGE)
    return parse_filter(params)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_psi_is_the_textbook_formula() -> None:
    expected, actual = {"a": 0.5, "b": 0.5}, {"a": 0.8, "b": 0.2}
    assert drift.psi(expected, actual) == pytest.approx(0.3 * math.log(0.8 / 0.5) + (-0.3) * math.log(0.2 / 0.5))
    assert drift.psi(expected, expected) == 0.0


def test_drift_warns_when_a_week_moves_past_the_threshold(agent: Any, second_agent: Any, settings: Any) -> None:
    seeded = seed(agent, second_agent)
    ModelReference.objects.create(
        model_version=seeded.version,
        class_mix={"alpha": 0.4, "beta": 0.4, "gamma": 0.2},
        confidence_histogram=[0.0] * 9 + [1.0],
        vocabulary=["lost", "card", "number", "ticket"],
        unseen_share=0.0,
    )
    report = drift.report_drift(window())
    first, _ = report.weeks
    # Week 1 suggested alpha 3 times, beta twice: mix {alpha: .6, beta: .4}.
    assert first.mix == {"alpha": 0.6, "beta": 0.4}
    assert first.mix_psi == pytest.approx(drift.psi({"alpha": 0.4, "beta": 0.4, "gamma": 0.2}, first.mix))
    assert first.histogram[9] == pytest.approx(0.4)  # 0.95 and 0.90 of 5
    # Five tickets a week are too few to judge by default: the measures show, no warning.
    assert not report.warnings
    settings.REPORTS_DRIFT_MIN_TICKETS = 5
    report = drift.report_drift(window())
    assert any("confidence distribution moved" in w for w in report.warnings)
    settings.REPORTS_PSI_WARNING = 100.0
    assert not [w for w in drift.report_drift(window()).warnings if "PSI" in w]


def test_drift_counts_every_incoming_ticket_not_only_the_decided_ones(agent: Any, second_agent: Any) -> None:
    from tests.reports_data import DAY1
    from triage.models import Prediction

    seeded = seed(agent, second_agent)
    # Two tickets of week 1 nobody decided: one still waiting, one the model auto-triaged.
    gamma = seeded.categories["gamma"]
    for status, category, source in [("new", None, ""), ("triaged", gamma, Ticket.LabelSource.AUTO)]:
        with at(DAY1 + timedelta(minutes=30)):
            ticket = Ticket.objects.create(
                subject="x", body="y", received_at=DAY1, status=status, category=category, label_source=source
            )
            Prediction.objects.create(ticket=ticket, model_version=seeded.version, suggested=gamma, confidence=0.99)
    first, _ = drift.report_drift(window()).weeks
    # Week 1: alpha 3, beta 2 decided, and gamma 2 undecided.
    assert first.tickets == 7
    assert first.mix == pytest.approx({"alpha": 3 / 7, "beta": 2 / 7, "gamma": 2 / 7})


def test_the_unseen_word_share_is_measured_against_the_training_vocabulary(
    agent: Any, second_agent: Any, settings: Any
) -> None:
    seeded = seed(agent, second_agent, override_first=False)
    ModelReference.objects.create(model_version=seeded.version, vocabulary=["lost", "card"], unseen_share=0.1)
    reports._vocabulary.cache_clear()
    ticket = Ticket.objects.create(subject="", body="lost card on the bus", received_at=DAY2, language="en")
    from triage.models import Prediction

    Prediction.objects.create(
        ticket=ticket, model_version=seeded.version, suggested=seeded.categories["alpha"], confidence=0.5
    )
    with at(DAY2 + timedelta(hours=1)):
        services.ticket_triage(ticket=ticket, agent=agent, category=seeded.categories["alpha"])
    assert DecisionFact.objects.get(ticket=ticket).unseen_share == pytest.approx(3 / 5)  # on, the, bus
    settings.REPORTS_DRIFT_MIN_TICKETS = 1
    report = drift.report_drift(window())
    assert report.weeks[-1].unseen_share == pytest.approx(0.6)
    assert any("new to the model" in w for w in report.warnings)


def test_the_training_reference_is_built_from_the_live_models_data(live_model: Any, history: Any) -> None:
    live_model.data_to = timezone.now()
    live_model.save(update_fields=["data_to"])
    reference = reports.model_reference_build(version=live_model)
    assert sum(reference.class_mix.values()) == pytest.approx(1.0)
    assert len(reference.confidence_histogram) == 10 and sum(reference.confidence_histogram) == pytest.approx(1.0)
    assert "card" in reference.vocabulary and reference.sample_rows == 300
    assert 0.0 <= reference.unseen_share < 0.5


def test_a_random_share_of_accepted_suggestions_goes_to_review_and_verdicts_correct_labels(
    agent: Any, second_agent: Any, supervisor: Any, settings: Any
) -> None:
    settings.REPORTS_QC_SHARE = 1.0
    seeded = seed(agent, second_agent, override_first=False)
    assert QualityCheck.objects.count() == 7  # every accepted suggestion, none of the changed ones
    settings.REPORTS_QC_SHARE = 0.0
    checks = {c.ticket_id: c for c in QualityCheck.objects.all()}
    first, second = checks[seeded.tickets[0].pk], checks[seeded.tickets[1].pk]
    client = logged_in(supervisor)
    assert seeded.tickets[0].subject in client.get("/reports/review/").content.decode().replace("&lt;", "<").replace(
        "&gt;", ">"
    )
    client.post(f"/reports/review/{first.pk}/", {"category": "alpha"})  # kept
    client.post(f"/reports/review/{second.pk}/", {"category": "gamma"})  # corrected
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.correct is True and second.correct is False and second.reviewer == supervisor
    corrected = Ticket.objects.get(pk=seeded.tickets[1].pk)
    assert corrected.category.slug == "gamma"  # the label training reads
    assert corrected.decisions.filter(agent=supervisor, chosen__slug="gamma", applied=True).exists()
    assert DecisionFact.objects.get(ticket=corrected).overridden
    assert agents.report_quality_checks(window()) == {"drawn": 7, "reviewed": 2, "correct": 1}
    again = client.post(f"/reports/review/{second.pk}/", {"category": "alpha"}, follow=True)
    assert "already reviewed" in again.content.decode()


def test_an_agent_cannot_review(agent: Any) -> None:
    assert logged_in(agent).post("/reports/review/1/", {"category": "alpha"}).status_code == 403


def test_acceptance_below_the_floor_requests_a_drift_retrain_once(agent: Any, second_agent: Any, settings: Any) -> None:
    seed(agent, second_agent)  # 7 of 10 accepted
    settings.REPORTS_ACCEPTANCE_WINDOW_DAYS = 14
    settings.REPORTS_ACCEPTANCE_MIN_DECISIONS = 10
    settings.REPORTS_ACCEPTANCE_FLOOR = 0.7
    now = DAY2 + timedelta(days=1)
    assert triggers.acceptance_floor_check(now=now) is None  # 70 % is not below 70 %
    settings.REPORTS_ACCEPTANCE_FLOOR = 0.75
    run = triggers.acceptance_floor_check(now=now)
    assert run is not None and run.trigger == TrainingRun.Trigger.DRIFT and "70.0%" in run.reason
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED)
    assert triggers.acceptance_floor_check(now=now) is None  # once per window
    settings.REPORTS_ACCEPTANCE_MIN_DECISIONS = 11
    TrainingRun.objects.all().delete()
    assert triggers.acceptance_floor_check(now=now) is None  # too few decisions to judge


def test_the_reports_housekeeping_task_checks_the_acceptance_floor(
    agent: Any, second_agent: Any, settings: Any
) -> None:
    from triage import tasks

    seed(agent, second_agent)
    settings.REPORTS_ACCEPTANCE_MIN_DECISIONS = 1
    settings.REPORTS_ACCEPTANCE_FLOOR = 0.99
    with at(DAY2 + timedelta(days=1)):
        tasks.reports_housekeeping()
    assert TrainingRun.objects.filter(trigger=TrainingRun.Trigger.DRIFT).count() == 1


def test_the_minute_housekeeping_gives_a_newly_live_model_its_drift_reference(history: Any, live_model: Any) -> None:
    from triage import tasks

    assert not ModelReference.objects.exists()
    tasks.housekeeping()
    reference = ModelReference.objects.get(model_version=live_model)
    assert reference.vocabulary and "card" in reference.vocabulary
    tasks.housekeeping()  # it has one now: nothing is rebuilt
    assert ModelReference.objects.get(model_version=live_model).pk == reference.pk


def test_a_quality_check_on_a_since_retired_category_can_still_be_kept(
    admin_user: Any, agent: Any, supervisor: Any, categories: dict[str, Any], live_model: Any, settings: Any
) -> None:
    # Found by review: "Correct" posts the accepted slug, which the view refused once
    # an admin had retired the category, so the check could only be cleared by
    # relabelling the ticket.
    from triage.taxonomy import services as tax

    settings.REPORTS_QC_SHARE = 1.0  # every accepted suggestion is drawn
    declined = categories["card-declined"]
    ticket = services.ticket_ingest(subject="Declined", body="my card was declined at the shop").ticket
    services.ticket_triage(ticket=ticket, agent=agent, category=declined)  # accepts the suggestion
    check = QualityCheck.objects.get(ticket=ticket)
    tax.category_retire(actor=admin_user, category_id=declined.pk, version=declined.version)

    client = Client()
    client.force_login(supervisor)
    response = client.post(f"/reports/review/{check.pk}/", {"category": declined.slug})
    check.refresh_from_db()
    assert response.status_code == 302 and check.correct is True
    ticket.refresh_from_db()
    assert ticket.category == declined  # kept, not relabelled


def test_a_quality_check_verdict_must_be_an_active_category_or_the_agents_own(
    admin_user: Any, agent: Any, supervisor: Any, categories: dict[str, Any], live_model: Any, settings: Any
) -> None:
    from triage.taxonomy import services as tax

    settings.REPORTS_QC_SHARE = 1.0
    fees = categories["fees-and-charges"]
    ticket = services.ticket_ingest(subject="Declined", body="my card was declined at the shop").ticket
    services.ticket_triage(ticket=ticket, agent=agent, category=categories["card-declined"])
    check = QualityCheck.objects.get(ticket=ticket)
    tax.category_retire(actor=admin_user, category_id=fees.pk, version=fees.version)
    client = Client()
    client.force_login(supervisor)
    for slug in (fees.slug, "no-such-category"):
        assert client.post(f"/reports/review/{check.pk}/", {"category": slug}).status_code == 400
    check.refresh_from_db()
    assert check.reviewed_at is None
