"""Report 4: error analysis from the product's own decisions."""

from __future__ import annotations

from django.db.models import QuerySet

from triage.models import DecisionFact
from triage.reports.filters import ReportFilter
from triage.reports.selectors.quality import Cell


def errors_confident_wrong(f: ReportFilter, *, limit: int = 25) -> QuerySet[DecisionFact]:
    """Suggestions agents changed, most confident first."""
    return (
        f.facts()
        .filter(accepted=False, suggested__isnull=False, confidence__isnull=False)
        .select_related("ticket", "suggested", "chosen")
        .order_by("-confidence", "-id")[:limit]
    )


def errors_least_sure(f: ReportFilter, *, limit: int = 25) -> QuerySet[DecisionFact]:
    """The suggestions the model was least sure of, right or wrong."""
    return (
        f.facts()
        .filter(suggested__isnull=False, confidence__isnull=False)
        .select_related("ticket", "suggested", "chosen")
        .order_by("confidence", "id")[:limit]
    )


def errors_confused_pairs(cells: list[Cell], *, limit: int = 15) -> list[tuple[str, str, int]]:
    """The category pairs most often confused, in either direction: (a, b, count)."""
    pairs: dict[tuple[str, str], int] = {}
    for cell in cells:
        if cell.suggested != cell.chosen:
            key = (min(cell.suggested, cell.chosen), max(cell.suggested, cell.chosen))
            pairs[key] = pairs.get(key, 0) + cell.count
    return sorted(((a, b, n) for (a, b), n in pairs.items()), key=lambda p: (-p[2], p[0], p[1]))[:limit]
