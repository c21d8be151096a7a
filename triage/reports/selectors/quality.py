"""Report 2: per-category precision, recall, F1 and support from agents' decisions, and
the confusion matrix of suggested against chosen category."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from triage.models import Category, DecisionFact
from triage.reports.filters import ReportFilter
from triage.reports.selectors.common import category_slugs


@dataclass(frozen=True)
class Cell:
    suggested: str
    chosen: str
    count: int
    blind: int = 0  # of which on the blind slice


def report_confusion(f: ReportFilter) -> list[Cell]:
    """Decisions per (suggested, chosen) pair: one GROUP BY on ids. Agents' choice is the truth."""
    slugs = category_slugs()
    rows = (
        f.facts()
        .filter(suggested__isnull=False)
        .values("suggested_id", "chosen_id")
        .annotate(n=Count("id"), blind=Count("id", filter=Q(blind=True)))
        .order_by()
    )
    cells = [Cell(slugs[r["suggested_id"]], slugs[r["chosen_id"]], r["n"], r["blind"]) for r in rows]
    return sorted(cells, key=lambda c: (c.suggested, c.chosen))


@dataclass(frozen=True)
class CategoryQuality:
    slug: str
    name: str
    suggested: int  # times the model suggested it
    support: int  # times agents chose it
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.suggested if self.suggested else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.support if self.support else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)


def weakest_first(rows: list[CategoryQuality]) -> list[CategoryQuality]:
    """Categories by F1, lowest first (none yet counts as lowest), then by slug."""
    return sorted(rows, key=lambda q: (q.f1 if q.f1 is not None else -1, q.slug))


def report_category_quality(cells: list[Cell], *, only: Category | None = None) -> list[CategoryQuality]:
    """Precision (of the suggestions of c), recall (of the tickets agents put in c) and
    F1 per category, folded from the confusion cells."""
    names = dict(Category.objects.values_list("slug", "name"))
    suggested: dict[str, int] = {}
    support: dict[str, int] = {}
    correct: dict[str, int] = {}
    for cell in cells:
        suggested[cell.suggested] = suggested.get(cell.suggested, 0) + cell.count
        support[cell.chosen] = support.get(cell.chosen, 0) + cell.count
        if cell.suggested == cell.chosen:
            correct[cell.chosen] = correct.get(cell.chosen, 0) + cell.count
    slugs = sorted(set(suggested) | set(support))
    if only is not None:
        slugs = [s for s in slugs if s == only.slug]
    return [
        CategoryQuality(s, names.get(s, s), suggested.get(s, 0), support.get(s, 0), correct.get(s, 0)) for s in slugs
    ]


def accuracy_summary(cells: list[Cell]) -> dict[str, int]:
    """Decisions with a suggestion, how many kept it, and the same on the blind slice
    (the unbiased estimate: agents chose there without seeing the suggestion)."""
    return {
        "decided": sum(c.count for c in cells),
        "agreed": sum(c.count for c in cells if c.suggested == c.chosen),
        "blind_decided": sum(c.blind for c in cells),
        "blind_agreed": sum(c.blind for c in cells if c.suggested == c.chosen),
    }


def confusion_tickets(
    f: ReportFilter, *, suggested: Category, chosen: Category, limit: int = 200
) -> QuerySet[DecisionFact]:
    """The decisions behind one confusion cell, newest first."""
    return (
        f.facts()
        .filter(suggested=suggested, chosen=chosen)
        .select_related("ticket", "agent")
        .order_by("-created_at")[:limit]
    )
