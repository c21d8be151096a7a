"""Report 6: agents. Pace, time per decision, acceptance, overrides, and the
quality-check sample's verdicts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q
from django.db.models.functions import TruncHour

from triage.models import QualityCheck
from triage.reports.filters import ReportFilter


class Median(Aggregate):
    """PostgreSQL's percentile_cont(0.5): the exact median in the database."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


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
    """Per agent, one GROUP BY. Decisions per hour counts the clock hours in which the
    agent decided anything (their working hours, as far as the data shows)."""
    facts = f.facts()
    aggregates: dict[str, Aggregate] = {
        "decisions": Count("id"),
        "active_hours": Count(TruncHour("created_at"), distinct=True),
        "shown": Count("id", filter=Q(blind=False, suggested__isnull=False)),
        "accepted": Count("id", filter=Q(blind=False, suggested__isnull=False, accepted=True)),
        "overridden": Count("id", filter=Q(overridden=True)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggregates["median"] = Median("seconds_taken")
    rows = facts.values("agent_id", "agent__username").annotate(**aggregates).order_by("agent__username")
    result = []
    for r in rows:
        median = r["median"] if postgres else _median_seconds(f, r["agent_id"])
        result.append(
            AgentRow(
                agent_id=r["agent_id"],
                username=r["agent__username"],
                decisions=r["decisions"],
                active_hours=r["active_hours"],
                shown=r["shown"],
                accepted=r["accepted"],
                overridden=r["overridden"],
                median_seconds=median,
            )
        )
    return result


def _median_seconds(f: ReportFilter, agent_id: int) -> float | None:
    """SQLite has no percentile: the middle one or two values by OFFSET (two small queries)."""
    timed = f.facts().filter(agent_id=agent_id, seconds_taken__isnull=False).order_by("seconds_taken")
    n = timed.count()
    if n == 0:
        return None
    middle = [
        float(s) for s in timed.values_list("seconds_taken", flat=True)[(n - 1) // 2 : n // 2 + 1] if s is not None
    ]
    return sum(middle) / len(middle) if middle else None


def report_quality_checks(f: ReportFilter) -> dict[str, int]:
    """The quality-check sample in range: drawn, reviewed, and kept by the reviewer."""
    checks = QualityCheck.objects.filter(decision_id__in=f.facts().values("decision_id"))
    return checks.aggregate(
        drawn=Count("id"),
        reviewed=Count("id", filter=Q(reviewed_at__isnull=False)),
        correct=Count("id", filter=Q(correct=True)),
    )
