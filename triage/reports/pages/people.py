"""The agents page: pace, acceptance, overrides and the quality-check verdicts."""

from __future__ import annotations

from django.conf import settings

from triage.reports.filters import ReportFilter
from triage.reports.pages.common import line, pct, r4, share
from triage.reports.selectors import agents
from triage.reports.tables import Chart, Report, Table


def build_agents(f: ReportFilter) -> Report:
    report = Report("agents", "Agents", "Who decides how fast, and is anyone rubber-stamping?")
    rows = agents.report_agents(f)
    report.tables.append(
        Table(
            "agents",
            "Per agent",
            [
                "Agent",
                "Decisions",
                "Active hours",
                "Decisions per hour",
                "Median seconds",
                "Accepted unchanged",
                "Changed later by another",
            ],
            [
                [
                    r.username,
                    r.decisions,
                    r.active_hours,
                    r4(r.per_hour),
                    r4(r.median_seconds),
                    pct(r.accepted_share),
                    pct(r.overridden_share),
                ]
                for r in rows
            ],
            note="A high acceptance with few seconds per decision and later changes suggests rubber-stamping.",
        )
    )
    report.charts.append(
        Chart(
            "chart-agents",
            "Accepted unchanged and changed later, per agent",
            "agents",
            {
                "type": "bar",
                "data": {
                    "labels": [r.username for r in rows],
                    "datasets": [
                        line("Accepted unchanged", [r4(r.accepted_share) for r in rows]),
                        line("Changed later by another", [r4(r.overridden_share) for r in rows]),
                    ],
                },
                "options": {"scales": {"y": {"min": 0, "max": 1}}},
            },
        )
    )
    qc = agents.report_quality_checks(f)
    report.tables.append(
        Table(
            "quality-check",
            f"Quality-check sample ({settings.REPORTS_QC_SHARE:.0%} of accepted suggestions)",
            ["Drawn", "Reviewed", "Kept by the reviewer", "Accuracy of accepted labels"],
            [[qc["drawn"], qc["reviewed"], qc["correct"], share(qc["correct"], qc["reviewed"])]],
        )
    )
    return report
