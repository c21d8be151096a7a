from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from triage import queue_row
from triage.models import Ticket

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return queue_row.percent(value)


@register.simple_tag
def ticket_row(ticket: Ticket, names: dict[str, str]) -> SafeString:
    """`{% ticket_row ticket names %}`: the queue row, as the websocket pushes it."""
    return queue_row.ticket_row(ticket, names)
