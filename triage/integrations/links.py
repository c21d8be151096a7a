"""Links back to the system a ticket came from: one URL template per source
(`https://acme.zendesk.com/agent/tickets/{external_id}`), set on a mailbox's or a
helpdesk's page, or for an API client's `source` on the integrations page.

Every queue row asks, on the ingest path too, so the templates are read once per
process every few seconds rather than once per row.
"""

from __future__ import annotations

import string
import time
from typing import Any
from urllib.parse import quote, urlsplit

from triage.integrations.models import SourceLink
from triage.models import Ticket

PLACEHOLDERS = {"external_id", "id", "customer_ref"}
CACHE_SECONDS = 10.0
_CACHE: dict[str, Any] = {"templates": {}, "read_at": float("-inf")}


def links_changed() -> None:
    _CACHE["read_at"] = float("-inf")


def _templates() -> dict[str, str]:
    if time.monotonic() - _CACHE["read_at"] > CACHE_SECONDS:
        _CACHE.update(templates=dict(SourceLink.objects.values_list("source", "template")), read_at=time.monotonic())
    templates: dict[str, str] = _CACHE["templates"]
    return templates


def template_problem(template: str) -> str:
    """Why a template cannot be used, or ""."""
    if not template:
        return ""
    parts = urlsplit(template.replace("{", "").replace("}", ""))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return "A link template is an http(s) URL, e.g. https://acme.zendesk.com/agent/tickets/{external_id}."
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"Unbalanced braces: {exc}."
    unknown = names - PLACEHOLDERS
    if unknown:
        return f"Unknown placeholder {{{sorted(unknown)[0]}}}: use {{external_id}}, {{id}} or {{customer_ref}}."
    return ""


def render(template: str, ticket: Ticket) -> str:
    values = {
        "external_id": quote(ticket.external_id or "", safe=""),
        "id": str(ticket.pk),
        "customer_ref": quote(ticket.customer_ref, safe=""),
    }
    if not ticket.external_id and "{external_id}" in template:
        return ""
    return template.format(**values)


def source_link(ticket: Ticket) -> str:
    """The ticket's page in its source system, or "" when its source has no template."""
    template = _templates().get(ticket.source)
    return render(template, ticket) if template else ""
