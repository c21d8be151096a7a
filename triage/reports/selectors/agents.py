"""Report 6: agents. Pace, time per decision, acceptance, overrides, and the
quality-check sample's verdicts."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Floor, TruncHour

from triage.models import DecisionFact, QualityCheck
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
    """Per agent, from one GROUP BY (agent, whole seconds taken) folded in Python.

    Decisions per hour divides by the clock hours in which the agent decided anything
    (facts flagged `opens_hour`). The median is read off the whole-second histogram
    (exact to the second, the same on SQLite and PostgreSQL, and a hash aggregate
    rather than a sort of every row)."""
    # The flag marks the first decision of an hour among all of an agent's decisions;
    # a narrower filter (category, version, language) may leave that one out, so
    # there the hours are counted exactly (COUNT DISTINCT, on the smaller set).
    narrowed = f.category is not None or f.version is not None or bool(f.language)
    rows = (
        f.facts()
        .annotate(second=Floor("seconds_taken"))
        .values("agent_id", "second")
        .annotate(
            decisions=Count("id"),
            opened=Count("id", filter=Q(opens_hour=True)),
            shown=Count("id", filter=Q(blind=False, suggested__isnull=False)),
            accepted=Count("id", filter=Q(blind=False, suggested__isnull=False, accepted=True)),
            overridden=Count("id", filter=Q(overridden=True)),
        )
        .order_by()
    )
    totals: dict[int, dict[str, int]] = {}
    histograms: dict[int, dict[int, int]] = {}
    for r in rows:
        agent = totals.setdefault(
            r["agent_id"], dict.fromkeys(("decisions", "opened", "shown", "accepted", "overridden"), 0)
        )
        for key in agent:
            agent[key] += r[key]
        if r["second"] is not None:
            histograms.setdefault(r["agent_id"], {})[int(r["second"])] = r["decisions"]
    hours = {agent_id: t["opened"] for agent_id, t in totals.items()}
    if narrowed:
        exact = f.facts().values("agent_id").annotate(n=Count(TruncHour("created_at"), distinct=True)).order_by()
        hours = {r["agent_id"]: r["n"] for r in exact}
    names = dict(User.objects.filter(pk__in=list(totals)).values_list("pk", "username"))
    result = [
        AgentRow(
            agent_id=agent_id,
            username=names.get(agent_id, str(agent_id)),
            decisions=t["decisions"],
            active_hours=hours.get(agent_id, 0),
            shown=t["shown"],
            accepted=t["accepted"],
            overridden=t["overridden"],
            median_seconds=_median(histograms.get(agent_id, {})),
        )
        for agent_id, t in totals.items()
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
    # From the (small) sample to its facts, not from a million facts to the sample.
    in_range = DecisionFact.objects.filter(f.q(), decision_id=OuterRef("decision_id"))
    checks = QualityCheck.objects.filter(Exists(in_range))
    return checks.aggregate(
        drawn=Count("id"),
        reviewed=Count("id", filter=Q(reviewed_at__isnull=False)),
        correct=Count("id", filter=Q(correct=True)),
    )
