"""Training and promotion when things happen at once: a second promotion, a second
training, a run reaped while it trains, a holdout too small to compare on."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from tests.conftest import IN_CI
from triage.learning import services as learning
from triage.learning.gate import gate_verdict
from triage.learning.promotion import model_version_activate
from triage.learning.services import (
    RunHeartbeat,
    retrain_request,
    training_run_execute,
    training_run_fail,
    training_runs_reap,
)
from triage.learning.training import train_model
from triage.models import ModelPromotion, ModelVersion, TrainingRun

CRIPPLED = {"word_weight": 0.0, "char_ngram": (1, 1), "C": 1e-4}


def test_without_held_out_tickets_a_gated_model_stays_a_candidate_beside_the_live_one(history: Any) -> None:
    live = train_model().version
    outcome = train_model(holdout_share=0.0, activate="gate", params=CRIPPLED)
    assert not outcome.activated
    outcome.version.refresh_from_db()
    assert outcome.version.status == ModelVersion.Status.CANDIDATE
    assert "no held-out tickets to compare it with the live model on" in outcome.version.notes
    live.refresh_from_db()
    assert live.status == ModelVersion.Status.ACTIVE
    # With no live model at all, the first one still goes live.
    ModelVersion.objects.update(status=ModelVersion.Status.RETIRED)
    assert train_model(holdout_share=0.0, activate="gate").activated


def test_a_gated_model_does_not_replace_a_live_model_it_was_not_compared_with(history: Any) -> None:
    first = train_model().version
    other = train_model(activate="never").version

    def progress(stage: str, fraction: float) -> None:
        if stage.startswith("saving"):  # another model goes live while this one is saved
            model_version_activate(version=other, reason="by hand")

    outcome = train_model(activate="gate", progress=progress)
    assert not outcome.activated
    assert f"the live model is v{other.version}, not v{first.version}" in outcome.reason
    outcome.version.refresh_from_db()
    other.refresh_from_db()
    assert outcome.version.status == ModelVersion.Status.CANDIDATE and other.status == ModelVersion.Status.ACTIVE


def test_a_run_marked_failed_while_it_trained_stays_failed_and_its_model_is_not_promoted(
    history: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = retrain_request(trigger=TrainingRun.Trigger.MANUAL, reason="test", enqueue=False)
    real_train = learning.train_model

    def reaped_meanwhile(**kwargs: Any) -> Any:
        training_run_fail(run_id=run.pk, error="no heartbeat: the worker was lost")  # the reaper
        return real_train(**kwargs)

    monkeypatch.setattr(learning, "train_model", reaped_meanwhile)
    finished = training_run_execute(run_id=run.pk)
    assert finished is not None and finished.status == TrainingRun.Status.FAILED
    assert "worker was lost" in finished.error
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()
    version = ModelVersion.objects.get()
    assert version.status == ModelVersion.Status.CANDIDATE and "marked failed" in version.notes


def test_the_heartbeat_keeps_beating_after_a_failed_beat(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(learning, "HEARTBEAT_SECONDS", 0.01)
    beats: list[bool] = []
    three_beats = threading.Event()

    class Rows:
        def update(self, **fields: Any) -> int:
            if not beats:
                beats.append(False)
                raise OperationalError("the database is restarting")
            beats.append(True)
            if len(beats) >= 3:
                three_beats.set()
            return 1

    monkeypatch.setattr(TrainingRun.objects, "filter", lambda **kw: Rows())
    heartbeat = RunHeartbeat(1)
    thread = threading.Thread(target=heartbeat._beat)
    thread.start()
    three_beats.wait(timeout=5)
    heartbeat.stop.set()
    thread.join(timeout=5)
    assert beats[:3] == [False, True, True]


def test_a_recall_drop_of_exactly_the_allowance_passes_the_gate() -> None:
    def scores(recall: float) -> dict[str, Any]:
        return {"macro_f1": 0.9, "per_category": {"a": {"recall": recall, "support": 50}}}

    for before, after in [(0.8, 0.7), (0.9, 0.8), (0.3, 0.2)]:
        assert gate_verdict(scores(after), scores(before), max_macro_f1_drop=0.01, max_recall_drop=0.1).passed
    assert not gate_verdict(scores(0.69), scores(0.8), max_macro_f1_drop=0.01, max_recall_drop=0.1).passed


def _wait_until_another_transaction_waits_for_this_one(timeout: float = 10) -> None:
    """Return once another PostgreSQL backend is blocked on a lock this one holds."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no other transaction came to wait for this one's locks")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not IN_CI and not __import__("os").environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="row locks need PostgreSQL (CI always has it)",
)
def test_two_promotions_at_once_run_one_after_the_other(history: Any) -> None:
    first = train_model().version
    second, third = train_model(activate="never").version, train_model(activate="never").version
    promoted = threading.Event()
    errors: list[BaseException] = []

    def slow_promotion() -> None:
        try:
            with transaction.atomic():
                model_version_activate(version=second)
                promoted.set()
                _wait_until_another_transaction_waits_for_this_one()  # it holds its locks meanwhile
        except BaseException as exc:  # recorded for the assertion below
            errors.append(exc)
            promoted.set()
        finally:
            connection.close()

    def other_promotion() -> None:
        promoted.wait(timeout=10)
        try:
            model_version_activate(version=third)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=slow_promotion), threading.Thread(target=other_promotion)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert list(ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)) == [third]
    last = ModelPromotion.objects.order_by("-pk").first()
    assert last is not None and last.version == third and last.previous == second
    assert ModelPromotion.objects.get(version=second).previous == first


def test_a_run_no_worker_claimed_is_sent_again_once_per_interval(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(learning, "_enqueue", sent.append)
    run = retrain_request(trigger=TrainingRun.Trigger.MANUAL, reason="test", enqueue=False)
    fresh = retrain_request(trigger=TrainingRun.Trigger.MANUAL, kind=TrainingRun.Kind.TUNE, enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=20))
    assert training_runs_reap() == 0
    assert sent == [run.pk]  # the fresh one is left alone
    training_runs_reap()
    assert sent == [run.pk]  # not again within the interval
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=16))
    training_runs_reap()
    assert sent == [run.pk, run.pk]
    # Claimed by a worker: running, never sent again by the reaper.
    assert learning.training_run_claim(run_id=run.pk) is not None
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=2))
    training_runs_reap()
    assert sent == [run.pk, run.pk] and TrainingRun.objects.get(pk=fresh.pk).status == "queued"


def test_a_live_model_that_cannot_be_loaded_is_replaced_and_the_reason_says_so(history: Any) -> None:
    first = train_model().version
    ModelVersion.objects.filter(pk=first.pk).update(sha256="0" * 64)  # its artifact no longer verifies
    outcome = train_model(activate="gate")
    assert outcome.activated
    assert f"the live model v{first.version} could not be loaded to compare with" in outcome.reason


def test_the_reaper_leaves_alone_a_run_claimed_or_beating_since_it_looked(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = retrain_request(trigger=TrainingRun.Trigger.MANUAL, reason="test", enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=2))
    real_fail = learning.training_run_fail

    def claimed_first(**kwargs: Any) -> bool:
        learning.training_run_claim(run_id=run.pk)  # a worker claims it between the look and the update
        return real_fail(**kwargs)

    monkeypatch.setattr(learning, "training_run_fail", claimed_first)
    assert training_runs_reap() == 0
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.RUNNING
