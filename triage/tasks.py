"""Celery tasks: thin wrappers around services. Their schedules: triage/schedules.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from triage.learning import services, triggers, tuning
from triage.reports import services as reports
from triage.taxonomy.waiting import waiting_sweep


@shared_task(acks_late=True)
def run_training(run_id: int) -> dict[str, Any] | None:
    """Run a queued training. Late acknowledgement: a worker killed mid-run leaves the
    message to be redelivered, and the redelivery marks the run failed instead of
    training twice; the reaper catches the rest."""
    run = services.training_run_execute(run_id=run_id)
    if run is None:
        return None
    return {"run": run.pk, "status": run.status, "version": run.model_version_id}


@shared_task
def retrain(**params: Any) -> int | None:
    """The nightly retrain (its time: the models page)."""
    run = triggers.retrain_scheduled(params=params or None)
    return run.pk if run is not None else None


@shared_task
def housekeeping() -> None:
    """Every minute: fail runs whose worker died, retrain when enough decisions came in
    or a taxonomy change found a training running, move waiting tickets off closed
    categories, and give a newly live model its drift reference (one query when it
    has one)."""
    services.training_runs_reap()
    triggers.retrain_if_due()
    triggers.retrain_if_pending()
    waiting_sweep()  # tickets classified while a process's category list was seconds old
    reports.model_reference_ensure()


@shared_task(acks_late=True)
def run_tuning(run_id: int) -> None:
    """Fan a hyperparameter grid out as a Celery group, one task per combination."""
    tuning.tuning_start(run_id=run_id)


@shared_task(acks_late=True)
def tune_trial(run_id: int, index: int) -> None:
    tuning.tuning_trial(run_id=run_id, index=index)


@shared_task
def reports_housekeeping() -> None:
    """Every 15 minutes: the acceptance-floor retrain."""
    triggers.acceptance_floor_check()
