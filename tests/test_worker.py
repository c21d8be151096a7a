"""The whole learning path through a real Celery worker (a subprocess on the same
database and broker as the tests: PostgreSQL and Redis in CI): decisions →
trigger → training → gate → promotion → this process serving the new version;
and a worker killed mid-training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, demo_history_rows, worker_env
from triage import services, serving
from triage.learning.services import retrain_request, training_runs_reap
from triage.learning.training import train_model
from triage.learning.triggers import retrain_if_due
from triage.models import Category, ModelVersion, Ticket, TrainingRun


@pytest.fixture
def worker(transactional_db: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery worker` as production runs it: prefork, late acknowledgement."""
    # Start from an empty queue: no message left over from another run.
    subprocess.run([sys.executable, "-m", "celery", "-A", "assist", "purge", "-f"], cwd=ROOT, env=worker_env(),
                   capture_output=True, check=True, timeout=60)  # fmt: skip
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "assist", "worker", "--concurrency", "1", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=worker_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.close()
    print((tmp_path / "worker.log").read_text(errors="replace")[-4000:])  # shown when a test fails


def _wait_for(run_id: int, statuses: set[str], timeout: float = 180) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = TrainingRun.objects.get(pk=run_id)
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run #{run_id} still {TrainingRun.objects.get(pk=run_id).status} after {timeout} s")


def test_decisions_trigger_a_worker_training_that_the_web_process_serves_within_seconds(
    worker: Any, history: Any, agent: Any, ingest_client: Any, settings: Any
) -> None:
    settings.RETRAIN_AFTER_DECISIONS = 5
    settings.MODEL_REFRESH_SECONDS = 5.0
    live = train_model().version
    serving.reset()
    category = Category.objects.get(slug="lost-or-stolen-card")
    for i in range(5):
        ticket = services.ticket_ingest(subject="Card gone", body=f"I lost my card on the bus {i}").ticket
        services.ticket_triage(ticket=ticket, agent=agent, category=category)
    assert serving.active_model().version == live.version
    run = retrain_if_due()
    assert run is not None and run.trigger == "decisions"

    run = _wait_for(run.pk, {"succeeded", "failed"})
    assert run.status == "succeeded", run.error
    new = run.model_version
    assert new is not None and new.status == "active" and new.version == live.version + 1
    assert "promoted by the gate" in new.notes
    # The new decisions were learnt from: the five triaged tickets are in its data.
    assert new.training_rows == 305
    promoted_at = time.monotonic()
    while serving.active_model().version != new.version:
        assert time.monotonic() - promoted_at < settings.MODEL_REFRESH_SECONDS + 2, "web process did not switch"
        time.sleep(0.1)
    response = ingest_client.post("/api/tickets/", {"subject": "Lost card", "body": "lost it"}, format="json")
    assert response.json()["suggestion"]["model_version"] == new.version


def test_a_worker_killed_mid_training_leaves_the_live_model_and_the_run_ends_failed(
    worker: Any, categories: Any, settings: Any
) -> None:
    rows = demo_history_rows(categories, 4000, seed=9, prefix="k", step=timedelta(seconds=1))
    services.tickets_import(rows=rows, source="kill")
    live = train_model(holdout_share=0.0).version
    run = retrain_request(trigger=TrainingRun.Trigger.MANUAL, reason="to be killed")
    _wait_for(run.pk, {"running"}, timeout=60)
    children = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the prefork worker has no child process"
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)

    # Late acknowledgement hands the message back; the redelivery marks the run
    # failed rather than training twice. The reaper is the backstop.
    try:
        ended = _wait_for(run.pk, {"failed", "succeeded"}, timeout=30)
    except AssertionError:
        training_runs_reap(stale_seconds=0)
        ended = TrainingRun.objects.get(pk=run.pk)
    assert ended.status == "failed" and "lost" in ended.error
    assert ModelVersion.objects.get(status="active") == live
    assert ModelVersion.objects.count() == 1
    # The lock is free: the next trigger retries.
    assert retrain_request(trigger=TrainingRun.Trigger.SCHEDULE, enqueue=False).status == "queued"
    assert Ticket.objects.filter(source="kill").count() == 4000
