"""Reads of continuous learning: what a training learns from, the target precision it
picks thresholds for, and the models page (versions, runs, shadow comparisons)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from scipy.stats import binomtest, chi2

from triage.ml.training import TrainingData
from triage.models import Category, ModelPromotion, ModelVersion, Prediction, Ticket, TrainingRun, TriagePolicy
from triage.schedules import NIGHTLY_RETRAIN


def confirmed_tickets() -> QuerySet[Ticket]:
    """Confirmed tickets in active categories (the training data's queryset).

    Tickets the model triaged itself (above a category's auto-triage threshold)
    are left out until an agent confirms them: it must not learn from its own guesses.
    """
    return Ticket.objects.filter(category__isnull=False, category__is_active=True).exclude(
        label_source=Ticket.LabelSource.AUTO
    )


def training_rows(chunk_size: int = 5000) -> Iterator[tuple[Any, ...]]:
    """(id, subject, body, label, received_at, blind) of confirmed tickets, oldest
    first, read in chunks (a server-side cursor on PostgreSQL)."""
    rows = (
        confirmed_tickets()
        .order_by("received_at", "id")
        .values_list("id", "subject", "body", "category__slug", "received_at", "blind")
        .iterator(chunk_size=chunk_size)
    )
    return _shuffle_ties(rows)


def training_data(chunk_size: int = 5000) -> TrainingData:
    """Confirmed tickets in active categories, oldest first, streamed in chunks."""
    data = TrainingData([], [], [], [], [])
    for ticket_id, subject, body, label, received, blind in training_rows(chunk_size):
        data.ids.append(ticket_id)
        data.pairs.append((subject, body))
        data.labels.append(label)
        data.received.append(received)
        data.blind.append(blind)
    return data


def _shuffle_ties(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows in time order; rows with the same time (a history imported without
    timestamps) in a seeded random order, so the time holdout does not become
    "the last categories of a file sorted by label"."""
    rng = random.Random(0)
    for _, group in itertools.groupby(rows, key=lambda row: row[4]):
        run = list(group)
        if len(run) > 1:
            rng.shuffle(run)
        yield from run


def training_classes() -> list[str]:
    """The slugs of the active categories that have confirmed tickets."""
    return sorted(
        Category.objects.filter(is_active=True)
        .filter(Exists(confirmed_tickets().filter(category=OuterRef("pk"))))
        .values_list("slug", flat=True)
    )


def target_precision() -> float:
    """The target precision the next model's thresholds are picked for: the admins'
    (the taxonomy page), else ASSIST_TARGET_PRECISION."""
    chosen = TriagePolicy.objects.filter(pk=1).values_list("target_precision", flat=True).first()
    return float(settings.TARGET_PRECISION) if chosen is None else float(chosen)


@dataclass(frozen=True)
class NightlyRetrain:
    """When the scheduled retrain runs. `at` is None for a schedule that is not one
    time every day (set in the Django admin): `cron` then says what it is."""

    enabled: bool
    at: time | None
    timezone: str
    cron: str


def nightly_retrain() -> NightlyRetrain | None:
    """The nightly retrain's schedule; None when its row is missing (the next migrate restores it)."""
    row = PeriodicTask.objects.select_related("crontab").filter(name=NIGHTLY_RETRAIN.name).first()
    if row is None or row.crontab is None:
        return None
    tab = row.crontab
    fields = (tab.minute, tab.hour, tab.day_of_month, tab.month_of_year, tab.day_of_week)
    every_day = tab.minute.isdigit() and tab.hour.isdigit() and fields[2:] == ("*", "*", "*")
    at = time(int(tab.hour), int(tab.minute)) if every_day and int(tab.hour) < 24 and int(tab.minute) < 60 else None
    return NightlyRetrain(
        enabled=row.enabled,
        at=at,
        timezone=str(tab.timezone),
        cron=" ".join(fields),
    )


def model_versions(*, limit: int = 30) -> list[ModelVersion]:
    return list(ModelVersion.objects.select_related("activated_by").order_by("-version")[:limit])


def training_runs(*, limit: int = 15) -> list[TrainingRun]:
    return list(TrainingRun.objects.select_related("requested_by", "model_version").order_by("-created_at")[:limit])


def open_run(kind: str = TrainingRun.Kind.TRAIN) -> TrainingRun | None:
    return TrainingRun.objects.filter(kind=kind, status__in=["queued", "running"]).first()


def promotions(*, limit: int = 20) -> list[ModelPromotion]:
    return list(ModelPromotion.objects.select_related("version", "previous", "user")[:limit])


@dataclass(frozen=True)
class CacheShare:
    """How many of a version's suggestions the cache of repeated messages answered,
    summed over every serving process (each prediction says whether it did)."""

    days: int
    suggestions: int
    cached: int


def cache_share(version: ModelVersion, *, days: int = 7) -> CacheShare:
    since = timezone.now() - timedelta(days=days)
    counts = Prediction.objects.filter(model_version=version, is_live=True, created_at__gte=since).aggregate(
        suggestions=Count("id"), cached=Count("id", filter=Q(cached=True))
    )
    return CacheShare(days=days, suggestions=counts["suggestions"], cached=counts["cached"])


def shadow_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(shadow_since__isnull=False).order_by("-shadow_since").first()


def _shadow_predictions(version: ModelVersion) -> QuerySet[Prediction]:
    """The version's shadow predictions on tickets an agent has since decided,
    each annotated with what the live model suggested for the same ticket."""
    live = Prediction.objects.filter(ticket=OuterRef("ticket"), is_live=True).values("suggested")[:1]
    return (
        Prediction.objects.filter(
            model_version=version,
            is_live=False,
            ticket__label_source=Ticket.LabelSource.AGENT,
            ticket__category__isnull=False,
        )
        .annotate(live_suggested=Subquery(live))
        .filter(live_suggested__isnull=False)
    )


def shadow_scored_count(version: ModelVersion) -> int:
    return _shadow_predictions(version).count()


@dataclass
class ShadowComparison:
    version: ModelVersion
    tickets: int
    shadow_right: int
    live_right: int
    # McNemar's discordant pairs: only the shadow right, only the live model right.
    only_shadow: int
    only_live: int
    p_value: float | None
    per_category: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shadow_accuracy(self) -> float | None:
        return self.shadow_right / self.tickets if self.tickets else None

    @property
    def live_accuracy(self) -> float | None:
        return self.live_right / self.tickets if self.tickets else None


def mcnemar_p_value(only_a: int, only_b: int) -> float | None:
    """Two-sided McNemar test on the discordant pairs: exact binomial below 25 pairs,
    chi-square with continuity correction above. None with no discordant pair."""
    n = only_a + only_b
    if n == 0:
        return None
    if n < 25:
        return float(binomtest(only_a, n, 0.5).pvalue)
    statistic = (abs(only_a - only_b) - 1) ** 2 / n
    return float(chi2.sf(statistic, df=1))


def _disagreeing(rows: QuerySet[Prediction]) -> QuerySet[Any]:
    fields = ["ticket_id", "ticket__subject", "ticket__body", "ticket__category", "suggested", "live_suggested"]
    return rows.exclude(suggested=F("live_suggested")).order_by("-ticket__received_at").values(*fields)


def shadow_comparison(version: ModelVersion, *, disagreements: int = 25) -> ShadowComparison:
    """The shadow version against the live suggestions on the same decided tickets."""
    rows = _shadow_predictions(version)
    shadow_ok = Q(suggested=F("ticket__category"))
    live_ok = Q(live_suggested=F("ticket__category"))
    totals = rows.aggregate(
        tickets=Count("id"),
        shadow_right=Count("id", filter=shadow_ok),
        live_right=Count("id", filter=live_ok),
        only_shadow=Count("id", filter=shadow_ok & ~live_ok),
        only_live=Count("id", filter=live_ok & ~shadow_ok),
    )
    names = dict(Category.objects.values_list("id", "name"))
    per_category = [
        {
            "category": names.get(row["ticket__category"], "?"),
            "tickets": row["tickets"],
            "shadow_right": row["shadow_right"],
            "live_right": row["live_right"],
            "difference": row["shadow_right"] - row["live_right"],
        }
        for row in rows.values("ticket__category")
        .annotate(
            tickets=Count("id"),
            shadow_right=Count("id", filter=shadow_ok),
            live_right=Count("id", filter=live_ok),
        )
        .order_by("ticket__category")
    ]
    per_category.sort(key=lambda row: (row["difference"], -row["tickets"]))
    differing = [
        {
            "ticket_id": row["ticket_id"],
            "subject": row["ticket__subject"] or row["ticket__body"][:80],
            "chosen": names.get(row["ticket__category"], "?"),
            "shadow": names.get(row["suggested"], "?"),
            "live": names.get(row["live_suggested"], "?"),
        }
        for row in _disagreeing(rows)[:disagreements]
    ]
    return ShadowComparison(
        version=version,
        tickets=totals["tickets"],
        shadow_right=totals["shadow_right"],
        live_right=totals["live_right"],
        only_shadow=totals["only_shadow"],
        only_live=totals["only_live"],
        p_value=mcnemar_p_value(totals["only_shadow"], totals["only_live"]),
        per_category=per_category,
        disagreements=differing,
    )
