"""Reads that are more than a one-liner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.db.models import Case, Count, F, FilteredRelation, FloatField, Prefetch, Q, QuerySet, Subquery, When
from django.utils import timezone

from triage.ml.language import SNOWBALL_LANGUAGES
from triage.models import Category, Channel, Prediction, Queue, Ticket


def with_live_prediction(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Attach `live_prediction` (or None) to each ticket, in one extra query."""
    live = Prediction.objects.filter(is_live=True).select_related("suggested", "suggested__parent", "model_version")
    return tickets.select_related("category", "category__parent", "triaged_by", "queue").prefetch_related(
        Prefetch("predictions", queryset=live, to_attr="_live_predictions")
    )


# Filters the queue page offers (GET parameters, so a view can be bookmarked).
SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "confident": "Most confident first",
    "unsure": "Least confident first",
}
AGES = {
    "under-1h": ("Under an hour", None, timedelta(hours=1)),
    "over-1h": ("Over an hour", timedelta(hours=1), None),
    "over-4h": ("Over 4 hours", timedelta(hours=4), None),
    "over-1d": ("Over a day", timedelta(days=1), None),
}
HUMAN = {"yes": "Needs a human", "no": "Has a suggestion"}
LANGUAGES = {code: name.capitalize() for code, name in SNOWBALL_LANGUAGES.items()}
SEARCH_MAX_CHARS = 200


@dataclass(frozen=True)
class QueueView:
    """What an agent asked the queue page to show: its filters, sort and page."""

    q: str = ""
    queue: Queue | None = None
    category: Category | None = None  # the suggested category
    channel: str = ""
    language: str = ""
    human: str = ""  # "yes", "no" or "" (either)
    urgent: bool = False
    age: str = ""
    sort: str = "newest"
    page: int = 1
    # Only the bulk triage's "all like this" sets it (a suggestion at this confidence or more).
    min_confidence: float | None = None

    @property
    def filtered(self) -> bool:
        """Narrower than "every waiting ticket in this queue"."""
        return bool(self.q or self.category or self.channel or self.language or self.human or self.urgent or self.age)

    def params(self, **changes: Any) -> dict[str, str]:
        """The view as GET parameters (defaults left out), with `changes` applied."""
        view = replace(self, **changes)
        raw = {
            "q": view.q,
            "queue": view.queue.slug if view.queue else "",
            "category": view.category.slug if view.category else "",
            "channel": view.channel,
            "language": view.language,
            "human": view.human,
            "urgent": "1" if view.urgent else "",
            "age": view.age,
            "sort": "" if view.sort == "newest" else view.sort,
            "page": "" if view.page == 1 else str(view.page),
        }
        return {key: value for key, value in raw.items() if value}


def queue_view_parse(params: Mapping[str, str]) -> QueueView:
    """The view a page's query string asks for. Lenient, as a bookmark outlives a queue
    or a category: an unknown value means "no filter" rather than an error page."""

    def pick(name: str, choices: Iterable[str]) -> str:
        value = params.get(name, "")
        return value if value in choices else ""

    queue_slug, category_slug = params.get("queue", ""), params.get("category", "")
    page = params.get("page", "")
    return QueueView(
        q=" ".join(params.get("q", "").split())[:SEARCH_MAX_CHARS],
        queue=Queue.objects.filter(slug=queue_slug).first() if queue_slug else None,
        category=Category.objects.filter(slug=category_slug).first() if category_slug else None,
        channel=pick("channel", Channel.values),
        language=pick("language", LANGUAGES),
        human=pick("human", HUMAN),
        urgent=params.get("urgent", "") in {"1", "true", "on"},
        age=pick("age", AGES),
        sort=pick("sort", SORTS) or "newest",
        page=int(page) if page.isascii() and page.isdigit() and 0 < len(page) <= 6 and int(page) > 0 else 1,
    )


def _untriaged(queue: Queue | None) -> QuerySet[Ticket]:
    tickets = Ticket.objects.filter(status=Ticket.Status.NEW)
    if queue is not None:
        # Tickets nobody routed (no suggestion, or a category without a queue) show in every queue.
        tickets = tickets.filter(Q(queue=queue) | Q(queue__isnull=True))
    return tickets


def queue_tickets(view: QueueView) -> QuerySet[Ticket]:
    """The waiting tickets a view shows, in its order (urgent ones first in every sort).

    The live suggestion is joined once (`live`) for the filters and sorts that read it;
    blind tickets show no suggestion, so a filter or sort on it leaves them out.
    """
    tickets = _untriaged(view.queue).alias(live=FilteredRelation("predictions", condition=Q(predictions__is_live=True)))
    # One filter() call: conditions on `live` given in separate calls would each join it again.
    where: list[Q] = []
    if view.q:
        where.append(Q(subject__icontains=view.q) | Q(body__icontains=view.q))
    if view.category is not None:
        where.append(Q(live__suggested=view.category, blind=False))
    if view.min_confidence is not None:
        where.append(Q(live__confidence__gte=view.min_confidence))
    if view.channel:
        where.append(Q(channel=view.channel))
    if view.language:
        where.append(Q(language=view.language))
    if view.human == "yes":
        where.append(Q(live__needs_human=True) | Q(live__isnull=True) | Q(blind=True))
    elif view.human == "no":
        where.append(Q(live__needs_human=False, blind=False))
    if view.urgent:
        where.append(Q(urgent=True))
    if view.age:
        _, older_than, younger_than = AGES[view.age]
        now = timezone.now()
        if older_than is not None:
            where.append(Q(received_at__lte=now - older_than))
        if younger_than is not None:
            where.append(Q(received_at__gt=now - younger_than))
    tickets = tickets.filter(*where)
    if view.sort in {"confident", "unsure"}:
        # A sort never hides a ticket: unsuggested ones come last, and so do blind
        # ones, whose hidden confidence must not place them.
        confidence = Case(When(blind=True, then=None), default=F("live__confidence"), output_field=FloatField())
        by = confidence.desc(nulls_last=True) if view.sort == "confident" else confidence.asc(nulls_last=True)
        return tickets.order_by("-urgent", by, "-received_at", "-id")
    if view.sort == "oldest":
        return tickets.order_by("-urgent", "received_at", "id")
    return tickets.order_by("-urgent", "-received_at", "-id")


def queue_page(*, limit: int, queue: Queue | None = None, view: QueueView | None = None) -> tuple[list[Ticket], int]:
    """The agents' queue: one page of a view's waiting tickets, and how many match it in all.

    Both come from one statement, so they agree: read apart, a ticket triaged in
    between was counted out but still listed, and a page that then replays the removal
    it had already heard of counted it out twice. The count is a scalar subquery, run
    once per statement, so the rows stay a top-N read.
    """
    view = view if view is not None else QueueView(queue=queue)
    matching = queue_tickets(view)
    count = matching.order_by().values("status").annotate(n=Count("id")).values("n")[:1]
    offset = (view.page - 1) * limit
    rows = list(with_live_prediction(matching.annotate(waiting=Subquery(count)))[offset : offset + limit])
    if rows:
        return rows, rows[0].waiting  # type: ignore[attr-defined]
    return rows, (matching.count() if view.page > 1 else 0)


def queue_like_ids(*, view: QueueView, suggested: Category, min_confidence: float, limit: int) -> list[int]:
    """Every ticket of a view whose shown suggestion is `suggested` at `min_confidence`
    or more (the model did not hold it back), across pages: "select all like this"."""
    like = replace(view, category=suggested, human="no", min_confidence=min_confidence, page=1)
    return list(queue_tickets(like).values_list("pk", flat=True)[:limit])


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
