"""Template filters of the report pages."""

from __future__ import annotations

from typing import Any

from django import template

from triage.reports.tables import Rate, cell_text, display_text

register = template.Library()


@register.filter
def cell(value: Any) -> str:
    """A table cell as the CSV writes it (so the page and the download agree)."""
    return cell_text(value)


@register.filter
def shown(value: Any) -> str:
    """A table cell as the page shows it: shares as percentages, categories by name."""
    return display_text(value)


@register.filter
def share(value: float | None) -> str:
    """A share (0 to 1) as the report tables show it: a percentage."""
    return display_text(Rate(value))


@register.filter
def is_link(value: Any) -> bool:
    return hasattr(value, "href")
