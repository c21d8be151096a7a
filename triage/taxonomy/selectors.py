"""Reads for the taxonomy pages, serving and the queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.text import slugify

from triage.models import Category, Decision, Prediction, Queue, Split, TaxonomyChange, Ticket


def category_rows() -> list[Category]:
    """Every category, active first, subcategories under their parent."""
    categories = list(Category.objects.select_related("parent", "queue", "merged_into"))
    return sorted(categories, key=lambda c: (not c.is_active, c.label.lower()))


def merge_ends(categories: dict[int, Category]) -> dict[int, Category]:
    """Each category (by id) -> the one it lives on in: itself, or the end of its merges."""
    ends: dict[int, Category] = {}
    for category in categories.values():
        final, seen = category, set()
        while final.merged_into_id is not None and final.pk not in seen:  # merges can chain
            seen.add(final.pk)
            final = categories[final.merged_into_id]
        ends[category.pk] = final
    return ends


def split_choices(split: Split) -> list[Category]:
    """Where a split's tickets can go: each active target, or for a target merged away
    since, the active category it was merged into (its tickets would follow it there)."""
    ends = merge_ends({c.pk: c for c in Category.objects.all()})
    choices: list[Category] = []
    for target in split.targets.order_by("pk"):
        end = ends[target.pk]
        if end.is_active and all(c.pk != end.pk for c in choices):
            choices.append(end)
    return choices


def category_slugs_by_label(labels: Iterable[str]) -> dict[str, str | None]:
    """Each label's category slug, reading a label as a slug or a name (any case); a
    category merged into another answers with the survivor's slug. None: no such category."""
    categories = {c.pk: c for c in Category.objects.all()}
    finals = {pk: end.slug for pk, end in merge_ends(categories).items()}
    # A label is read as a slug exactly as written first, then as a name: a slug names
    # its own category even when another category's name reads the same (a "Refund"
    # renamed "Returns" keeps the slug `refund`; a new "Refund" is `refund-request`).
    slugs = {c.slug: finals[pk] for pk, c in categories.items()}
    names: dict[str, str] = {}
    for pk, category in categories.items():
        for key in (category.name.casefold(), slugify(category.name)):
            if key:  # slugify empties a name in another script ("Карта"): no key, not ""
                names.setdefault(key, finals[pk])
    found: dict[str, str | None] = {}
    for label in labels:
        slugged = slugify(label) or "\0"
        found[label] = slugs.get(label) or names.get(label.casefold()) or names.get(slugged) or slugs.get(slugged)
    return found


def confirmed_counts() -> dict[int, int]:
    """Confirmed (human-labelled) tickets per category: the examples a model learns from."""
    rows = (
        Ticket.objects.filter(category__isnull=False)
        .exclude(label_source=Ticket.LabelSource.AUTO)
        .values("category")
        .annotate(n=Count("id"))
    )
    return {row["category"]: row["n"] for row in rows}


def suggestable_categories() -> list[Category]:
    """Active categories with enough examples: a new one is not suggested before it has
    its `min_examples` confirmed tickets (the model could not know it well yet)."""
    categories = list(Category.objects.filter(is_active=True).select_related("parent", "queue"))
    needing = [c.pk for c in categories if c.min_examples > 0]
    if not needing:
        return categories
    counts = dict(
        Ticket.objects.filter(category_id__in=needing)
        .exclude(label_source=Ticket.LabelSource.AUTO)
        .values("category")
        .annotate(n=Count("id"))
        .values_list("category", "n")
    )
    return [c for c in categories if counts.get(c.pk, 0) >= c.min_examples]


def history(*, limit: int = 100, category: Category | None = None) -> list[TaxonomyChange]:
    changes = TaxonomyChange.objects.select_related("category", "target", "retrain_run")
    if category is not None:
        changes = changes.filter(Q(category=category) | Q(target=category))
    return list(changes[:limit])


def queues() -> QuerySet[Queue]:
    return Queue.objects.all()


def open_splits() -> list[Split]:
    return list(
        Split.objects.annotate(
            pending=Count("items", filter=Q(items__chosen__isnull=True)), total=Count("items")
        ).select_related("source")
    )


@dataclass
class ThresholdOutcome:
    threshold: float
    decisions: int  # decisions on tickets the model suggested this category for
    covered: int  # of those, how many the threshold would have auto-triaged
    correct: int  # of the covered, how many the agent confirmed

    @property
    def coverage(self) -> float | None:
        return self.covered / self.decisions if self.decisions else None

    @property
    def precision(self) -> float | None:
        return self.correct / self.covered if self.covered else None


def threshold_preview(
    category: Category, thresholds: list[float], *, days: int | None = None
) -> list[ThresholdOutcome]:
    """What each threshold would have done on the last month's decisions: of the tickets
    the model suggested `category` for, the share auto-triaged (coverage) and the share
    of those the agent confirmed (precision)."""
    since = timezone.now() - timedelta(days=days or settings.THRESHOLD_PREVIEW_DAYS)
    live = Prediction.objects.filter(ticket=OuterRef("ticket"), is_live=True, model_version__isnull=False)
    decisions = (
        Decision.objects.filter(applied=True, undo__isnull=True, created_at__gte=since)
        .annotate(
            p_suggested=Subquery(live.values("suggested")[:1]),
            p_confidence=Subquery(live.values("confidence")[:1]),
        )
        .filter(p_suggested=category.pk)
        .order_by("ticket_id", "-created_at", "-pk")
        .values_list("ticket_id", "p_confidence", "chosen_id")
    )
    # One row per ticket, its latest applied decision: a supervisor's quality-check
    # correction is a second decision on the same ticket, and it is the final label.
    latest: dict[int, tuple[float | None, int]] = {}
    for ticket_id, confidence, chosen in decisions:
        latest.setdefault(ticket_id, (confidence, chosen))
    rows = list(latest.values())
    outcomes = []
    for t in thresholds:
        covered = [(conf, chosen) for conf, chosen in rows if conf is not None and conf >= t]
        outcomes.append(
            ThresholdOutcome(
                threshold=t,
                decisions=len(rows),
                covered=len(covered),
                correct=sum(1 for _, chosen in covered if chosen == category.pk),
            )
        )
    return outcomes


def recently_auto_triaged(*, limit: int = 20, queue: Queue | None = None) -> list[Ticket]:
    """The "recently auto-triaged" lane: agents can undo any of these."""
    since = timezone.now() - timedelta(hours=settings.AUTO_TRIAGE_LANE_HOURS)
    tickets = Ticket.objects.filter(
        label_source=Ticket.LabelSource.AUTO, status=Ticket.Status.TRIAGED, triaged_at__gte=since
    )
    if queue is not None:
        tickets = tickets.filter(Q(queue=queue) | Q(queue__isnull=True))
    return list(tickets.select_related("category", "category__parent", "queue").order_by("-triaged_at", "-id")[:limit])
