"""Reads for the models page: versions side by side, runs, and shadow comparisons."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from scipy.stats import binomtest, chi2

from triage.models import Category, ModelPromotion, ModelVersion, Prediction, Ticket, TrainingRun


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
