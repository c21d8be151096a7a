"""Reads that are more than a one-liner."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet, Subquery

from triage.models import Category, Prediction, Queue, Ticket


def with_live_prediction(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Attach `live_prediction` (or None) to each ticket, in one extra query."""
    live = Prediction.objects.filter(is_live=True).select_related("suggested", "suggested__parent", "model_version")
    return tickets.select_related("category", "category__parent", "triaged_by", "queue").prefetch_related(
        Prefetch("predictions", queryset=live, to_attr="_live_predictions")
    )


def _untriaged(queue: Queue | None) -> QuerySet[Ticket]:
    tickets = Ticket.objects.filter(status=Ticket.Status.NEW)
    if queue is not None:
        # Tickets nobody routed (no suggestion, or a category without a queue) show in every queue.
        tickets = tickets.filter(Q(queue=queue) | Q(queue__isnull=True))
    return tickets


def queue_page(*, limit: int, queue: Queue | None = None) -> tuple[list[Ticket], int]:
    """The agents' queue: its first untriaged tickets, urgent first, then newest first,
    and how many are waiting in all.

    Both come from one statement, so they agree: read apart, a ticket triaged in
    between was counted out but still listed, and a page that then replays the removal
    it had already heard of counted it out twice. The count is a scalar subquery, run
    once per statement, so the rows stay a top-N read.
    """
    count = _untriaged(queue).order_by().values("status").annotate(n=Count("id")).values("n")[:1]
    tickets = _untriaged(queue).annotate(waiting=Subquery(count)).order_by("-urgent", "-received_at", "-id")
    rows = list(with_live_prediction(tickets)[:limit])
    return rows, (rows[0].waiting if rows else 0)  # type: ignore[attr-defined]


def ticket_list(*, status: str | None = None, category: Category | None = None) -> QuerySet[Ticket]:
    tickets = Ticket.objects.order_by("-received_at", "-id")
    if status:
        tickets = tickets.filter(status=status)
    if category is not None:
        tickets = tickets.filter(category=category)
    return with_live_prediction(tickets)


def active_categories() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True).select_related("parent", "queue").order_by("name")


def category_names() -> dict[str, str]:
    """slug -> display label (a subcategory shows its parent first)."""
    return {c.slug: c.label for c in Category.objects.select_related("parent")}


def all_categories(*, active: bool | None = None) -> QuerySet[Category]:
    """Every category, active ones first; `active` keeps only the active (or the closed) ones."""
    categories = Category.objects.select_related("parent").order_by("-is_active", "name")
    return categories if active is None else categories.filter(is_active=active)
