"""Celery tasks: thin wrappers around services."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from triage.ml.training import NotEnoughDataError, train_model

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def retrain(**params: Any) -> dict[str, Any] | None:
    """Scheduled retrain: the new version goes live only if it is not worse on the same holdout."""
    try:
        outcome = train_model(params=params or None, activate="if_not_worse")
    except NotEnoughDataError as exc:
        logger.warning("retrain skipped: %s", exc)
        return None
    logger.info("retrain: v%s %s (%s)", outcome.version.version, outcome.version.status, outcome.reason)
    return {"version": outcome.version.version, "status": outcome.version.status, "reason": outcome.reason}
