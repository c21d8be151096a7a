"""The periodic tasks, declared once and synced into django-celery-beat after every
migrate (and on a fresh database), like the roles.

To run a task on a schedule, add a `Schedule` to SCHEDULES: the next migrate creates
its row. The sync keeps each entry's task and schedule as declared, except an
`admin_editable` one, whose time and on/off stay as an admin set them (the models
page). Rows of names not declared here are left alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Every:
    minutes: int


@dataclass(frozen=True)
class Daily:
    hour: int
    minute: int = 0
    timezone: str = "UTC"


@dataclass(frozen=True)
class Schedule:
    name: str  # the row's name in django-celery-beat: how the sync finds it
    task: str  # the Celery task, by its registered name
    when: Every | Daily
    admin_editable: bool = False


NIGHTLY_RETRAIN = Schedule("Nightly retrain", "triage.tasks.retrain", Daily(hour=2), admin_editable=True)

SCHEDULES: tuple[Schedule, ...] = (
    NIGHTLY_RETRAIN,
    # Reap lost trainings, retrain after enough decisions or a pending taxonomy change,
    # sweep waiting tickets off closed categories, build the live model's drift reference.
    Schedule("Learning housekeeping", "triage.tasks.housekeeping", Every(minutes=1)),
    # The acceptance-floor retrain.
    Schedule("Reports housekeeping", "triage.tasks.reports_housekeeping", Every(minutes=15)),
)


def crontab_daily(*, hour: int, minute: int, timezone: str) -> CrontabSchedule:
    """The (shared) crontab row for every day at hour:minute in `timezone`."""
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(minute),
        hour=str(hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=timezone,
    )
    return crontab


def _place(row: PeriodicTask, when: Every | Daily) -> None:
    if isinstance(when, Every):
        row.interval, _ = IntervalSchedule.objects.get_or_create(every=when.minutes, period=IntervalSchedule.MINUTES)
        row.crontab = None
    else:
        row.crontab = crontab_daily(hour=when.hour, minute=when.minute, timezone=when.timezone)
        row.interval = None


def _as_declared(row: PeriodicTask, when: Every | Daily) -> bool:
    if isinstance(when, Every):
        interval = row.interval
        return (
            row.crontab_id is None
            and interval is not None
            and (interval.every, interval.period) == (when.minutes, IntervalSchedule.MINUTES)
        )
    crontab = row.crontab
    return (
        row.interval_id is None
        and crontab is not None
        and (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month, crontab.month_of_year)
        == (str(when.minute), str(when.hour), "*", "*", "*")
        and str(crontab.timezone) == when.timezone
    )


@transaction.atomic
def schedules_sync() -> None:
    """Create every declared row that is missing and bring the others to their declaration.

    Saved one by one (not updated in bulk), so a running beat notices the change.
    """
    for entry in SCHEDULES:
        row = PeriodicTask.objects.select_related("interval", "crontab").filter(name=entry.name).first()
        if row is None:
            row = PeriodicTask(name=entry.name, task=entry.task, kwargs=json.dumps({}))
            _place(row, entry.when)
            row.save()
            continue
        changed = row.task != entry.task
        row.task = entry.task
        if not entry.admin_editable and not (_as_declared(row, entry.when) and row.enabled):
            _place(row, entry.when)
            row.enabled = True
            changed = True
        if changed:
            row.save()
