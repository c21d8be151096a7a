"""Reads that are more than a one-liner."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from triage.models import Category, Prediction, Ticket


def with_live_prediction(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Attach `live_prediction` (or None) to each ticket, in one extra query."""
    live = Prediction.objects.filter(is_live=True).select_related("suggested", "model_version")
    return tickets.select_related("category", "triaged_by").prefetch_related(
        Prefetch("predictions", queryset=live, to_attr="_live_predictions")
    )


def queue_untriaged(*, limit: int) -> list[Ticket]:
    """The agents' queue: untriaged tickets, newest first."""
    tickets = Ticket.objects.filter(status=Ticket.Status.NEW).order_by("-received_at", "-id")
    return list(with_live_prediction(tickets)[:limit])


def queue_count() -> int:
    return Ticket.objects.filter(status=Ticket.Status.NEW).count()


def ticket_list(*, status: str | None = None, category: Category | None = None) -> QuerySet[Ticket]:
    tickets = Ticket.objects.order_by("-received_at", "-id")
    if status:
        tickets = tickets.filter(status=status)
    if category is not None:
        tickets = tickets.filter(category=category)
    return with_live_prediction(tickets)


def active_categories() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True).order_by("name")


def category_names() -> dict[str, str]:
    return dict(Category.objects.values_list("slug", "name"))


def all_categories() -> QuerySet[Category]:
    return Category.objects.order_by("-is_active", "name")
