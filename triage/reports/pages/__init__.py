"""Each report page as tables and charts: what the template draws and the CSV serves.

Builders take a validated filter, call the selectors and shape their rows. A chart
is drawn from the table beside it, so the numbers on screen, in the chart and in
the CSV are the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

from triage.models import Category
from triage.reports.filters import ReportFilter
from triage.reports.pages.people import build_agents
from triage.reports.pages.quality import build_confidence, build_errors, build_quality
from triage.reports.pages.time import build_acceptance, build_drift, build_overview
from triage.reports.tables import Report

REPORTS: dict[str, Callable[[ReportFilter], Report]] = {
    "overview": build_overview,
    "acceptance": build_acceptance,
    "quality": build_quality,
    "confidence": build_confidence,
    "errors": build_errors,
    "drift": build_drift,
    "agents": build_agents,
}

NAV = [
    ("overview", "Overview"),
    ("acceptance", "Acceptance"),
    ("quality", "Quality"),
    ("confidence", "Confidence"),
    ("errors", "Errors"),
    ("drift", "Drift"),
    ("agents", "Agents"),
]


def category_choices() -> list[tuple[str, str]]:
    return list(Category.objects.order_by("name").values_list("slug", "name"))
