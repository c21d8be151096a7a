"""Report 1: the share of shown suggestions accepted unchanged, per day or week and model version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from triage.models import ModelPromotion
from triage.reports.filters import ReportFilter


@dataclass(frozen=True)
class AcceptanceRow:
    period: date
    version: int | None
    shown: int
    accepted: int

    @property
    def rate(self) -> float | None:
        return self.accepted / self.shown if self.shown else None


def report_acceptance(f: ReportFilter, *, period: str = "day") -> list[AcceptanceRow]:
    """Shown suggestions (the blind slice excluded: nothing was shown there) and how
    many were accepted unchanged, per period and model version."""
    if period not in {"day", "week"}:
        raise ValueError(f"period must be day or week, not {period!r}")
    rows = (
        f.facts()
        .filter(blind=False, suggested__isnull=False)
        .values(period, "model_version__version")
        .annotate(shown=Count("id"), accepted=Count("id", filter=Q(accepted=True)))
        .order_by(period, "model_version__version")
    )
    return [
        AcceptanceRow(period=r[period], version=r["model_version__version"], shown=r["shown"], accepted=r["accepted"])
        for r in rows
    ]


def acceptance_totals(f: ReportFilter) -> dict[str, int]:
    return (
        f.facts()
        .filter(blind=False, suggested__isnull=False)
        .aggregate(shown=Count("id"), accepted=Count("id", filter=Q(accepted=True)))
    )


@dataclass(frozen=True)
class PromotionMark:
    day: date
    week: date
    version: int
    action: str
    label: str


def promotions_in_range(f: ReportFilter) -> list[PromotionMark]:
    """Promotions and rollbacks inside the range: marked on the time axis."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(f.start, time.min), tz)
    end = timezone.make_aware(datetime.combine(f.end + timedelta(days=1), time.min), tz)
    marks = []
    for p in (
        ModelPromotion.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("version")
        .order_by("created_at")
    ):
        day = timezone.localdate(p.created_at)
        marks.append(
            PromotionMark(
                day=day,
                week=day - timedelta(days=day.weekday()),
                version=p.version.version,
                action=p.action,
                label=f"{p.get_action_display()}: v{p.version.version}",
            )
        )
    return marks
