"""Report 6: agents. Pace, time per decision, acceptance, overrides, and the
quality-check sample's verdicts."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.db.models.functions import Floor, TruncHour

from triage.models import QualityCheck
from triage.reports.filters import ReportFilter


@dataclass(frozen=True)
class AgentRow:
    agent_id: int
    username: str
    decisions: int
    active_hours: int
    shown: int
    accepted: int
    overridden: int
    median_seconds: float | None

    @property
    def per_hour(self) -> float | None:
        return self.decisions / self.active_hours if self.active_hours else None

    @property
    def accepted_share(self) -> float | None:
        return self.accepted / self.shown if self.shown else None

    @property
    def overridden_share(self) -> float | None:
        return self.overridden / self.decisions if self.decisions else None


def report_agents(f: ReportFilter) -> list[AgentRow]:
    """Per agent: one GROUP BY for the counts, one for the time histogram.

    Decisions per hour divides by the clock hours in which the agent decided anything
    (facts flagged `opens_hour`). The median is read off a whole-second histogram of
    seconds per decision (exact to the second, the same on SQLite and PostgreSQL,
    and a hash aggregate rather than a sort of every row)."""
    facts = f.facts()
    # The flag marks the first decision of an hour among all of an agent's decisions;
    # a narrower filter (category, version, language) may leave that one out, so
    # there the hours are counted exactly (COUNT DISTINCT, on the smaller set).
    narrowed = f.category is not None or f.version is not None or bool(f.language)
    hours = Count(TruncHour("created_at"), distinct=True) if narrowed else Count("id", filter=Q(opens_hour=True))
    rows = (
        facts.values("agent_id")
        .annotate(
            decisions=Count("id"),
            active_hours=hours,
            shown=Count("id", filter=Q(blind=False, suggested__isnull=False)),
            accepted=Count("id", filter=Q(blind=False, suggested__isnull=False, accepted=True)),
            overridden=Count("id", filter=Q(overridden=True)),
        )
        .order_by()
    )
    histograms: dict[int, dict[int, int]] = {}
    timed = facts.filter(seconds_taken__isnull=False).annotate(second=Floor("seconds_taken"))
    for r in timed.values("agent_id", "second").annotate(n=Count("id")).order_by():
        histograms.setdefault(r["agent_id"], {})[int(r["second"])] = r["n"]
    names = dict(User.objects.filter(pk__in=[r["agent_id"] for r in rows]).values_list("pk", "username"))
    result = [
        AgentRow(
            agent_id=r["agent_id"],
            username=names.get(r["agent_id"], str(r["agent_id"])),
            decisions=r["decisions"],
            active_hours=r["active_hours"],
            shown=r["shown"],
            accepted=r["accepted"],
            overridden=r["overridden"],
            median_seconds=_median(histograms.get(r["agent_id"], {})),
        )
        for r in rows
    ]
    return sorted(result, key=lambda a: a.username)


def _median(histogram: dict[int, int]) -> float | None:
    """The lower median of a whole-second histogram."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    for second in sorted(histogram):
        seen += histogram[second]
        if seen * 2 >= total:
            return float(second)
    return None


def report_quality_checks(f: ReportFilter) -> dict[str, int]:
    """The quality-check sample in range: drawn, reviewed, and kept by the reviewer."""
    checks = QualityCheck.objects.filter(decision_id__in=f.facts().values("decision_id"))
    return checks.aggregate(
        drawn=Count("id"),
        reviewed=Count("id", filter=Q(reviewed_at__isnull=False)),
        correct=Count("id", filter=Q(correct=True)),
    )
