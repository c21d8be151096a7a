"""Every reason to retrain, each asking for a run through `retrain_request`:

| trigger | function | called by |
|---|---|---|
| the nightly schedule | `retrain_scheduled` | the Celery task `retrain` (triage/schedules.py) |
| enough new decisions | `retrain_if_due` | the minute's housekeeping |
| acceptance below the floor | `acceptance_floor_check` | the reports housekeeping |
| a taxonomy change, the target precision | `taxonomy_changed` | triage/taxonomy (merge, split, policy) |
| a taxonomy change that found a run going | `retrain_if_pending` | the minute's housekeeping |

By hand: the models page and the `retrain` command call `retrain_request` directly.
"""

from __future__ import annotations

import logging
from datetime import time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from triage.learning.selectors import NightlyRetrain, nightly_retrain
from triage.learning.services import RetrainRunningError, retrain_request
from triage.models import Decision, DecisionFact, ModelVersion, TaxonomyChange, TrainingRun
from triage.schedules import NIGHTLY_RETRAIN, crontab_daily, schedules_sync

logger = logging.getLogger(__name__)


def retrain_scheduled(*, params: dict[str, Any] | None = None) -> TrainingRun | None:
    """The nightly retrain; skipped (logged) when a training is already queued or running."""
    try:
        return retrain_request(trigger=TrainingRun.Trigger.SCHEDULE, reason="scheduled retrain", params=params)
    except RetrainRunningError as exc:
        logger.warning("scheduled retrain skipped: %s", exc)
        return None


def retrain_if_due() -> TrainingRun | None:
    """Queue a training when RETRAIN_AFTER_DECISIONS decisions arrived since the last request
    (an undone decision does not count: it teaches nothing)."""
    threshold = settings.RETRAIN_AFTER_DECISIONS
    if threshold <= 0:
        return None
    last = TrainingRun.objects.filter(kind=TrainingRun.Kind.TRAIN).order_by("-created_at").first()
    since = last.decisions_seen if last else 0
    # Bounded count: at most `threshold` index entries are read, however long ago the last run was.
    new = Decision.objects.filter(id__gt=since, undo__isnull=True).order_by("id")[:threshold].count()
    if new < threshold:
        return None
    try:
        return retrain_request(
            trigger=TrainingRun.Trigger.DECISIONS, reason=f"{threshold} new decisions since the last training"
        )
    except RetrainRunningError:
        return None


def acceptance_floor_check(*, now: Any = None) -> TrainingRun | None:
    """Request a retrain (trigger "drift") when the live model's suggestions were accepted
    less than REPORTS_ACCEPTANCE_FLOOR of the time over the last window.

    Needs REPORTS_ACCEPTANCE_MIN_DECISIONS shown suggestions in the window, and asks
    at most once per window (a retrain that does not help must not loop)."""
    floor = settings.REPORTS_ACCEPTANCE_FLOOR
    if floor <= 0:
        return None
    now = now or timezone.now()
    since = now - timedelta(days=settings.REPORTS_ACCEPTANCE_WINDOW_DAYS)
    live = ModelVersion.objects.only("id").live()
    if live is None:
        return None
    counts = DecisionFact.objects.filter(
        created_at__gte=since, model_version_id=live.pk, blind=False, suggested__isnull=False
    ).aggregate(n=Count("id"), accepted=Count("id", filter=Q(accepted=True)))
    if not counts["n"] or counts["n"] < settings.REPORTS_ACCEPTANCE_MIN_DECISIONS:
        return None
    rate = counts["accepted"] / counts["n"]
    if rate >= floor:
        return None
    if TrainingRun.objects.filter(trigger=TrainingRun.Trigger.DRIFT, created_at__gte=since).exists():
        return None
    reason = (
        f"acceptance {rate:.1%} over the last {settings.REPORTS_ACCEPTANCE_WINDOW_DAYS} days "
        f"({counts['n']} decisions) is below the floor of {floor:.0%}"
    )
    try:
        run = retrain_request(trigger=TrainingRun.Trigger.DRIFT, reason=reason)
    except RetrainRunningError as exc:
        logger.info("acceptance below the floor, but %s", exc)
        return None
    logger.warning("retrain requested: %s", reason)
    return run


def taxonomy_changed(*, change: TaxonomyChange, reason: str) -> None:
    """The taxonomy tells learning that `change` moved training labels or the target
    precision: queue a retrain. If one is already running (on the old labels), the
    change stays marked pending until housekeeping queues it (`retrain_if_pending`)."""
    try:
        change.retrain_run = retrain_request(trigger=TrainingRun.Trigger.TAXONOMY, reason=reason, user=change.actor)
        change.retrain_pending = False
    except RetrainRunningError as exc:
        logger.info("taxonomy change #%s waits for a retrain: %s", change.pk, exc)
        change.retrain_pending = True
    change.save(update_fields=["retrain_run", "retrain_pending"])


def retrain_if_pending() -> TrainingRun | None:
    """Queue the retrain a taxonomy change asked for while another run was going."""
    pending = list(TaxonomyChange.objects.filter(retrain_pending=True).values_list("pk", flat=True))
    if not pending:
        return None
    try:
        run = retrain_request(trigger=TrainingRun.Trigger.TAXONOMY, reason=f"taxonomy changes {pending}")
    except RetrainRunningError:
        return None
    TaxonomyChange.objects.filter(pk__in=pending).update(retrain_pending=False, retrain_run=run)
    return run


@transaction.atomic
def nightly_retrain_set(*, actor: Any, at: time, enabled: bool) -> TaxonomyChange | None:
    """Set when the nightly retrain runs (in the server's TIME_ZONE) and whether it does;
    audited beside the admins' other settings. None when nothing changed."""
    row = PeriodicTask.objects.select_for_update().filter(name=NIGHTLY_RETRAIN.name).first()
    if row is None:  # removed by hand: put it back first
        schedules_sync()
        row = PeriodicTask.objects.select_for_update().get(name=NIGHTLY_RETRAIN.name)
    before = nightly_retrain()
    crontab = crontab_daily(hour=at.hour, minute=at.minute, timezone=settings.TIME_ZONE)
    if row.crontab_id == crontab.pk and row.enabled == enabled:
        return None
    row.crontab, row.interval, row.enabled = crontab, None, enabled
    row.save()
    after = nightly_retrain()
    change = TaxonomyChange.objects.create(
        action=TaxonomyChange.Action.SCHEDULE,
        actor=actor,
        actor_name=actor.get_username(),
        summary=f"Nightly retrain: {_describe(before)} → {_describe(after)}",
        before=_snapshot(before),
        after=_snapshot(after),
    )
    logger.info("%s (by %s)", change.summary, change.actor_name)
    return change


def _describe(schedule: NightlyRetrain | None) -> str:
    if schedule is None:
        return "none"
    when = f"{schedule.at:%H:%M} {schedule.timezone}" if schedule.at else f"cron {schedule.cron} {schedule.timezone}"
    return when if schedule.enabled else f"off ({when})"


def _snapshot(schedule: NightlyRetrain | None) -> dict[str, Any]:
    if schedule is None:
        return {}
    at = f"{schedule.at:%H:%M}" if schedule.at else None
    return {"enabled": schedule.enabled, "at": at, "cron": schedule.cron, "timezone": schedule.timezone}
