"""The ticket page: every role that can see tickets opens one from the queue row."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from triage.models import Ticket
from triage.queue_row import NEEDS_HUMAN_TEXT, percent
from triage.roles import CAN_MANAGE_MODELS, CAN_VIEW_TICKETS
from triage.tickets.selectors import ticket_page


@require_GET
@login_required
@permission_required(CAN_VIEW_TICKETS, raise_exception=True)
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    try:
        page = ticket_page(ticket_id=ticket_id, show_model=request.user.has_perm(CAN_MANAGE_MODELS))
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc
    suggestion = page.suggestion
    alternatives = [
        {"name": page.names.get(a["category"], a["category"]), "confidence": percent(a["confidence"])}
        for a in (suggestion.alternatives if suggestion else [])
    ]
    return render(
        request,
        "tickets/ticket.html",
        {
            "page": page,
            "ticket": page.ticket,
            "alternatives": alternatives,
            "confidence": percent(suggestion.confidence) if suggestion else "",
            "needs_human": NEEDS_HUMAN_TEXT.get(suggestion.abstain_reason, NEEDS_HUMAN_TEXT[""])
            if suggestion and suggestion.needs_human
            else "",
        },
    )
