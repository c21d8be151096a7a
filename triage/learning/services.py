"""Training runs: request one (the lock), run it, report its progress, reap lost ones.

Every trigger (triggers.py, the models page, the commands) asks through
`retrain_request`; the Celery task `triage.tasks.run_training` runs
`training_run_execute`, which calls `triage.learning.training.train_model`.

The lock is a row: a queued or running TrainingRun of a kind. A partial unique
constraint lets the database hold one at a time, so a second request fails
cleanly and learns which run holds the lock. A worker that dies leaves its row
running with a stale heartbeat; `training_runs_reap` marks it failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from functools import partial
from typing import Any

from celery import signature
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from triage.learning import broadcast
from triage.learning.training import train_model
from triage.ml.training import NotEnoughDataError
from triage.models import Decision, TrainingRun

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
# The Celery tasks that run a queued run (triage/tasks.py), sent by name: services
# never import the tasks module.
RUN_TASKS: dict[str, str] = {
    TrainingRun.Kind.TRAIN: "triage.tasks.run_training",
    TrainingRun.Kind.TUNE: "triage.tasks.run_tuning",
}


class RetrainRunningError(Exception):
    """A training is already queued or running: `run` is the one holding the lock."""

    def __init__(self, run: TrainingRun) -> None:
        super().__init__(f"training run #{run.pk} is already {run.status} (since {run.created_at:%Y-%m-%d %H:%M})")
        self.run = run


def retrain_request(
    *,
    trigger: str,
    reason: str = "",
    user: Any = None,
    params: dict[str, Any] | None = None,
    kind: str = TrainingRun.Kind.TRAIN,
    enqueue: bool = True,
) -> TrainingRun:
    """Queue a training (or tuning) run and hand it to Celery after commit.

    Raises RetrainRunningError when one of the same kind is queued or running.
    """
    high_water = Decision.objects.aggregate(m=Max("id"))["m"] or 0
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                kind=kind,
                trigger=trigger,
                reason=reason,
                requested_by=user if user is not None and user.is_authenticated else None,
                params=params or {},
                decisions_seen=high_water,
                stage="queued",
            )
    except IntegrityError:
        running = TrainingRun.objects.filter(kind=kind, status__in=["queued", "running"]).first()
        if running is None:  # it finished between our insert and this read: try once more
            return retrain_request(trigger=trigger, reason=reason, user=user, params=params, kind=kind, enqueue=enqueue)
        raise RetrainRunningError(running) from None
    logger.info("%s run #%s queued (%s: %s)", kind, run.pk, trigger, reason or "no reason given")
    if enqueue:
        transaction.on_commit(partial(_enqueue, run.pk))
    transaction.on_commit(partial(broadcast.run_changed, run.pk))
    return run


def _enqueue(run_id: int) -> None:
    try:
        signature(RUN_TASKS[_kind(run_id)], args=(run_id,)).apply_async(retry=False)
    except Exception as exc:
        # The broker is down: fail the run now (it would otherwise hold the lock).
        logger.exception("could not hand training run #%s to Celery", run_id)
        training_run_fail(run_id=run_id, error=f"could not reach the task broker: {exc}")


def _kind(run_id: int) -> str:
    return TrainingRun.objects.values_list("kind", flat=True).get(pk=run_id)


def training_run_claim(*, run_id: int) -> TrainingRun | None:
    """Move a queued run to running, recording which process holds it.

    None when it is not queued. A redelivered message (late acknowledgement after
    a worker died) then marks the run failed if the process that claimed it is
    gone, or its heartbeat is stale; a duplicate delivery while it still runs is
    ignored. Never train twice on one request.
    """
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now, stage="starting", worker=_this_worker()
    )
    if claimed:
        broadcast.run_changed(run_id)
        return TrainingRun.objects.get(pk=run_id)
    run = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).first()
    if run is None:
        return None
    stale = run.heartbeat_at is None or run.heartbeat_at < now - timedelta(seconds=settings.TRAINING_STALE_SECONDS)
    if _process_gone(run.worker) or stale:
        logger.error("training run #%s was redelivered after its worker %s was lost: marked failed", run_id, run.worker)
        training_run_fail(
            run_id=run_id, error=f"the worker running this training ({run.worker}) was lost; the next trigger retries"
        )
    else:
        logger.warning("training run #%s delivered again while %s still runs it: ignored", run_id, run.worker)
    return None


def _this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(worker: str) -> bool:
    """True when `worker` ran on this host and its process no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def training_run_progress(*, run_id: int, stage: str, fraction: float) -> None:
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(
        stage=stage[:200], progress=min(1.0, max(0.0, fraction)), heartbeat_at=timezone.now()
    )
    broadcast.run_changed(run_id)


def training_run_fail(*, run_id: int, error: str, only_if: Q | None = None) -> bool:
    """Mark a queued or running run failed; `only_if` narrows it further (the reaper
    re-checks what it saw: a run claimed or beating since is left alone)."""
    rows = TrainingRun.objects.filter(pk=run_id, status__in=["queued", "running"])
    failed = bool(
        (rows.filter(only_if) if only_if is not None else rows).update(
            status=TrainingRun.Status.FAILED, error=error[:4000], finished_at=timezone.now()
        )
    )
    broadcast.run_changed(run_id)
    return failed


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    """Run a queued training: fit, gate, register. The live model changes only if
    the gate promotes the new version; any failure leaves it untouched."""
    run = training_run_claim(run_id=run_id)
    if run is None:
        return None
    with RunHeartbeat(run_id):
        try:
            outcome = train_model(
                params=run.params or _tuned_params(),
                activate="gate",
                user=run.requested_by,
                progress=lambda stage, fraction: training_run_progress(run_id=run_id, stage=stage, fraction=fraction),
                still_wanted=lambda: TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).exists(),
            )
        except NotEnoughDataError as exc:
            logger.warning("training run #%s: %s", run_id, exc)
            training_run_fail(run_id=run_id, error=str(exc))
            return TrainingRun.objects.get(pk=run_id)
        except Exception as exc:
            logger.exception("training run #%s failed", run_id)
            if not connection.is_usable():  # the database went away mid-run: reconnect to record it
                connection.close()
            training_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
            raise
    # Only a run still running succeeds: one the reaper has marked failed meanwhile
    # stays failed (and train_model did not promote its model: still_wanted).
    finished = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(
        status=TrainingRun.Status.SUCCEEDED,
        stage="done",
        progress=1.0,
        finished_at=timezone.now(),
        model_version=outcome.version,
        results={"activated": outcome.activated, "reason": outcome.reason, "status": outcome.version.status},
    )
    broadcast.run_changed(run_id)
    if not finished:
        logger.error(
            "training run #%s was marked failed while it trained; v%s kept (%s)",
            run_id,
            outcome.version.version,
            outcome.reason,
        )
    else:
        logger.info("training run #%s: v%s %s", run_id, outcome.version.version, outcome.reason)
    return TrainingRun.objects.get(pk=run_id)


def _tuned_params() -> dict[str, Any]:
    """The best parameters of the latest finished hyperparameter search, if any."""
    tuned = (
        TrainingRun.objects.filter(kind=TrainingRun.Kind.TUNE, status=TrainingRun.Status.SUCCEEDED)
        .order_by("-finished_at")
        .values_list("results", flat=True)
        .first()
    )
    return dict((tuned or {}).get("best", {}).get("params", {}))


class RunHeartbeat:
    """Touch the run's heartbeat from a side thread while a long fit holds the main one."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> RunHeartbeat:
        # Inside a caller's transaction (tests) other connections can't see the row anyway.
        if not connection.in_atomic_block:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(HEARTBEAT_SECONDS):
                # One failed beat (the database restarting) must not end the beating:
                # without beats, a healthy run is reaped as lost after TRAINING_STALE_SECONDS.
                try:
                    TrainingRun.objects.filter(pk=self.run_id, status=TrainingRun.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:
                    logger.exception("heartbeat of training run #%s failed; trying again", self.run_id)
                    connection.close()
        finally:
            connection.close()


def training_runs_reap(*, stale_seconds: int | None = None) -> int:
    """Mark failed the runs whose worker died: running with an old heartbeat, or
    queued for longer than a day (the broker lost the message); send again the runs
    queued for a while that no worker claimed. Returns how many were failed."""
    stale = timedelta(seconds=stale_seconds if stale_seconds is not None else settings.TRAINING_STALE_SECONDS)
    now = timezone.now()
    dead = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=now - stale).values_list(
            "pk", flat=True
        )
    )
    lost = list(
        TrainingRun.objects.filter(
            status=TrainingRun.Status.QUEUED, created_at__lt=now - timedelta(days=1)
        ).values_list("pk", flat=True)
    )
    # Queued a while and never claimed: the broker may have lost the message (Redis
    # restarted without persistence), and the run would hold the lock for a day. Send
    # it again, at most once per TRAINING_RESEND_SECONDS (heartbeat_at marks the last
    # send of a queued run); a duplicate delivery is ignored when claiming.
    resend_before = now - timedelta(seconds=settings.TRAINING_RESEND_SECONDS)
    unclaimed = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED, created_at__lt=resend_before)
        .exclude(pk__in=lost)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=resend_before))
        .values_list("pk", flat=True)
    )
    for run_id in unclaimed:
        if TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(heartbeat_at=now):
            logger.warning(
                "training run #%s still queued after %s s: sent to the workers again",
                run_id,
                settings.TRAINING_RESEND_SECONDS,
            )
            _enqueue(run_id)
    failed = 0
    for run_id in dead:
        still_dead = Q(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=now - stale)
        if training_run_fail(
            run_id=run_id, error=f"no heartbeat for {stale.seconds} s: the worker was lost", only_if=still_dead
        ):
            logger.error("training run #%s: worker lost (no heartbeat); marked failed", run_id)
            failed += 1
    for run_id in lost:
        never_claimed = Q(status=TrainingRun.Status.QUEUED)
        if training_run_fail(
            run_id=run_id, error="queued for a day and never started: the task was lost", only_if=never_claimed
        ):
            logger.error("training run #%s never started; marked failed", run_id)
            failed += 1
    return failed
