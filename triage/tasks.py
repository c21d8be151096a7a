"""Celery tasks: thin wrappers around services."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from triage.learning import services, tuning
from triage.models import TrainingRun
from triage.taxonomy import merge as taxonomy_merge
from triage.taxonomy.waiting import waiting_sweep

logger = logging.getLogger(__name__)


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
    """The scheduled retrain (django-celery-beat's "Nightly retrain"; edit it in the admin)."""
    try:
        run = services.retrain_request(
            trigger=TrainingRun.Trigger.SCHEDULE, reason="scheduled retrain", params=params or None
        )
    except services.RetrainRunningError as exc:
        logger.warning("scheduled retrain skipped: %s", exc)
        return None
    return run.pk


@shared_task
def housekeeping() -> None:
    """Every minute: fail runs whose worker died, retrain when enough decisions came in,
    move waiting tickets off closed categories, and give a newly live model its drift
    reference (one query when it has one)."""
    from triage.reports import services as reports

    services.training_runs_reap()
    services.retrain_if_due()
    taxonomy_merge.retrain_if_pending()  # a taxonomy change that found a training running
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
    """Every 15 minutes: the acceptance-floor retrain (the drift reference is built by
    the minute's housekeeping)."""
    from triage.reports import services as reports

    reports.acceptance_floor_check()
