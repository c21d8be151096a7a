"""Report 1: the share of shown suggestions accepted unchanged, per day or week and model version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from triage.models import ModelPromotion, ModelVersion
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
    versions = dict(ModelVersion.objects.values_list("id", "version"))
    rows = (
        f.facts()
        .filter(blind=False, suggested__isnull=False)
        .values(period, "model_version_id")
        .annotate(shown=Count("id"), accepted=Count("id", filter=Q(accepted=True)))
        .order_by()
    )
    result = [
        AcceptanceRow(
            period=r[period], version=versions.get(r["model_version_id"]), shown=r["shown"], accepted=r["accepted"]
        )
        for r in rows
    ]
    return sorted(result, key=lambda r: (r.period, r.version or 0))


def acceptance_by_week(daily: list[AcceptanceRow]) -> list[AcceptanceRow]:
    """The daily rows folded into ISO weeks (Monday), without another scan."""
    weeks: dict[tuple[date, int | None], list[int]] = {}
    for r in daily:
        key = (r.period - timedelta(days=r.period.weekday()), r.version)
        counts = weeks.setdefault(key, [0, 0])
        counts[0] += r.shown
        counts[1] += r.accepted
    return [
        AcceptanceRow(week, version, shown, accepted)
        for (week, version), (shown, accepted) in sorted(weeks.items(), key=lambda item: (item[0][0], item[0][1] or 0))
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
