"""What the ticket page reads: the ticket, its suggestion, every prediction and
decision, its conversation and attachments, its source, and similar tickets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from triage.integrations import links
from triage.integrations import selectors as integrations
from triage.integrations.models import TicketMessage
from triage.models import Decision, Prediction, Ticket
from triage.selectors import category_names, with_live_prediction
from triage.tickets.similar import nearest

SIMILAR_SHOWN = 5
# Candidates compared by text: the latest of the same category, and the latest decided.
SIMILAR_SAME_CATEGORY_POOL = 300
SIMILAR_RECENT_POOL = 700


@dataclass(frozen=True)
class DecisionRow:
    """A decision as the page lists it; `undone_at`/`undone_by` are set when the
    decision was taken back (undo keeps decisions append-only and records the undo)."""

    decision: Decision
    undone_at: datetime | None = None
    undone_by: str = ""


@dataclass(frozen=True)
class SimilarTicket:
    ticket: Ticket
    why: str  # "same category", "similar text" or both
    score: float
    outcome: str


@dataclass
class TicketPage:
    ticket: Ticket
    suggestion: Prediction | None
    predictions: list[Prediction]
    decisions: list[DecisionRow]
    messages: list[TicketMessage]
    attachments: list[dict[str, Any]]
    source_name: str
    source_link: str
    full_text: str
    names: dict[str, str] = field(default_factory=dict)
    similar: list[SimilarTicket] = field(default_factory=list)


def _decision_rows(ticket: Ticket) -> list[DecisionRow]:
    decisions = (
        Decision.objects.filter(ticket=ticket)
        .select_related("agent", "suggested", "chosen", "model_version", "undo", "undo__agent")
        .order_by("created_at", "pk")
    )
    rows = []
    for d in decisions:
        undo = getattr(d, "undo", None)
        rows.append(
            DecisionRow(
                decision=d,
                undone_at=undo.created_at if undo else None,
                undone_by=undo.agent.get_username() if undo else "",
            )
        )
    return rows


def ticket_page(*, ticket_id: int, show_model: bool) -> TicketPage:
    """`show_model`: whether this viewer may see what agents are not shown (a blind
    ticket's suggestion while it waits, shadow predictions)."""
    ticket = with_live_prediction(Ticket.objects.filter(pk=ticket_id)).get()
    predictions = list(
        Prediction.objects.filter(ticket=ticket)
        .select_related("suggested", "suggested__parent", "model_version")
        .order_by("created_at", "pk")
    )
    hidden = ticket.blind and ticket.status == Ticket.Status.NEW and not show_model
    if not show_model:
        predictions = [p for p in predictions if p.is_live and not hidden]
    messages = integrations.conversation(ticket)
    first = messages[0] if messages else None
    return TicketPage(
        ticket=ticket,
        suggestion=None if hidden else ticket.live_prediction,
        predictions=predictions,
        decisions=_decision_rows(ticket),
        messages=messages,
        attachments=integrations.attachments(messages),
        source_name=integrations.source_names().get(ticket.source, ticket.source),
        source_link=links.source_link(ticket),
        full_text=first.text if first is not None else ticket.body,
        names=category_names(),
        similar=similar_tickets(ticket),
    )


def _outcome(t: Ticket) -> str:
    if t.status == Ticket.Status.NEW:
        return "waiting"
    name = t.category.label if t.category else "?"
    if t.label_source == Ticket.LabelSource.AGENT:
        how = f"by {t.triaged_by.get_username()}" if t.triaged_by else "by an agent"
    else:
        how = {Ticket.LabelSource.AUTO: "auto-triaged", Ticket.LabelSource.IMPORT: "imported history"}.get(
            Ticket.LabelSource(t.label_source), ""
        )
    return f"{name} ({how})" if how else name


def similar_tickets(ticket: Ticket, k: int = SIMILAR_SHOWN) -> list[SimilarTicket]:
    """Tickets of the same category (its confirmed one, else its suggestion) and the
    nearest by text among recent decided ones, ranked by text similarity."""
    live = ticket.live_prediction
    category_id = ticket.category_id or (live.suggested_id if live else None)
    base = Ticket.objects.exclude(pk=ticket.pk).select_related("category", "category__parent", "triaged_by")
    pool: dict[int, Ticket] = {}
    if category_id is not None:
        same = base.filter(category_id=category_id).order_by("-received_at")[:SIMILAR_SAME_CATEGORY_POOL]
        pool.update((t.pk, t) for t in same)
    recent = base.filter(~Q(status=Ticket.Status.NEW)).order_by("-received_at")[:SIMILAR_RECENT_POOL]
    pool.update((t.pk, t) for t in recent)
    candidates = list(pool.values())
    ranked = nearest(
        f"{ticket.subject}\n{ticket.body}", [f"{t.subject}\n{t.body}" for t in candidates], k=k, min_score=0.0
    )
    found = []
    for index, score in ranked:
        other = candidates[index]
        same_category = category_id is not None and other.category_id == category_id
        if score < 0.05 and not same_category:
            continue
        why = (
            "same category, similar text"
            if same_category and score >= 0.05
            else ("same category" if same_category else "similar text")
        )
        found.append(SimilarTicket(ticket=other, why=why, score=score, outcome=_outcome(other)))
    return found
