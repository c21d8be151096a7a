"""Helpers shared by the report pages: rounding, links and chart datasets."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from triage.models import Category
from triage.reports.filters import ReportFilter
from triage.reports.tables import CategoryCell, Link, Rate


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def r4(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def pct(value: float | None) -> Rate:
    """A share for a table: the page shows it as a percentage, the CSV as a fraction."""
    return Rate(r4(value))


def share(numerator: int, denominator: int) -> Rate:
    return Rate(rate(numerator, denominator))


def category_names() -> dict[str, str]:
    """Every category's name by slug (retired and merged ones too: history names them)."""
    return dict(Category.objects.values_list("slug", "name"))


def category_cell(slug: str, names: dict[str, str]) -> CategoryCell:
    return CategoryCell(slug, names.get(slug, slug))


def ticket_link(ticket_id: int) -> Link:
    return Link(f"#{ticket_id}", reverse("reports-ticket", args=[ticket_id]))


def cell_link(f: ReportFilter, suggested: str, chosen: str, text: Any) -> Link:
    query = f"{f.querystring()}&suggested={suggested}&chosen={chosen}"
    return Link(text, f"{reverse('reports-confusion-cell')}?{query}")


def line(label: str, data: list[Any], **extra: Any) -> dict[str, Any]:
    return {"label": label, "data": data, **extra}
