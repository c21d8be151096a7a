from __future__ import annotations

from typing import Any

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


@register.filter
def as_fields(record: Any) -> list[tuple[str, str]]:
    """A taxonomy change's before/after record as (label, value) lines for people:
    `{"source": {"name": "Fees", "urgent": False}}` reads "source name: Fees",
    "source urgent: no"."""
    lines: list[tuple[str, str]] = []

    def walk(value: Any, label: str, keys_are_slugs: bool = False) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                # Field names read as words; the slugs a split moved tickets to stay slugs.
                name = key if keys_are_slugs else key.replace("_", " ")
                walk(inner, f"{label} {name}".strip(), keys_are_slugs=key == "moved")
        else:
            lines.append((label, _field_text(value)))

    if isinstance(record, dict):
        walk(record, "")
    elif record not in (None, ""):
        lines.append(("", _field_text(record)))
    return lines


def _field_text(value: Any) -> str:
    if value is None or value == "":
        return "\u2013"  # an en dash: nothing there
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_field_text(v) for v in value) or "none"
    return str(value)


@register.filter
def percent_exact(value: float | None) -> str:
    """A setting's share as written: 0.975 is "97.5 %", 0.95 is "95 %"."""
    return "" if value is None else f"{float(value) * 100:g}\u00a0%"
