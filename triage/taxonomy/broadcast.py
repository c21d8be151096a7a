"""Taxonomy events for the agents' queue pages, sent after the transaction commits:
queue.js relabels choices, tooltips and the category list without a reload."""

from __future__ import annotations

from typing import Any

from triage.broadcast import QUEUE_GROUP, group_send
from triage.taxonomy.selectors import category_rows


def category_payload() -> list[dict[str, Any]]:
    return [
        {
            "slug": c.slug,
            "name": c.name,
            "label": c.label,
            "description": c.description,
            "color": c.color,
            "urgent": c.urgent,
            "queue": c.queue.slug if c.queue_id and c.queue else "",
            "active": c.is_active,
        }
        for c in category_rows()
    ]


def taxonomy_changed(merged: dict[str, str] | None = None, reload: bool = False) -> None:
    """`reload`: waiting tickets got new suggestions (triage.taxonomy.waiting), so the
    pages fetch their rows again rather than relabel them."""
    group_send(
        QUEUE_GROUP,
        {
            "type": "queue.event",
            "event": "taxonomy",
            "categories": category_payload(),
            "merged": merged,
            "reload": reload,
        },
    )
