"""Live updates to the agents' queue pages, sent only after the transaction commits.

Rows are rendered by the same code as the page (`triage.queue_row`), so ticket text
is escaped in the websocket payload exactly as in the page.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from functools import partial
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string

from triage import queue_row, serving
from triage.models import Decision, Prediction, Ticket

logger = logging.getLogger(__name__)

QUEUE_GROUP = "queue"


def ticket_added(ticket: Ticket, prediction: Prediction | None) -> None:
    ticket._live_predictions = [prediction] if prediction else []  # type: ignore[attr-defined]
    model = serving.active_model()
    names = {slug: c.label for slug, c in model.categories.items()} if model else {}
    html = queue_row.ticket_row(ticket, names)
    _send(
        {
            "type": "queue.event",
            "event": "ticket_added",
            "ticket_id": ticket.pk,
            "html": html,
            # The page filters by the queue it watches and notifies for urgent tickets.
            "queue": ticket.queue.slug if ticket.queue_id and ticket.queue else "",
            "urgent": ticket.urgent,
            "subject": ticket.subject[:120],
        }
    )


def ticket_auto_triaged(ticket: Ticket, prediction: Prediction | None) -> None:
    html = render_to_string("triage/_auto_ticket.html", {"ticket": ticket})
    _send(
        {
            "type": "queue.event",
            "event": "ticket_auto",
            "ticket_id": ticket.pk,
            "html": html,
            "queue": ticket.queue.slug if ticket.queue_id and ticket.queue else "",
        }
    )


def ticket_auto_undone(ticket: Ticket, agent: str) -> None:
    _send({"type": "queue.event", "event": "auto_undone", "ticket_id": ticket.pk, "agent": agent})
    ticket_added(ticket, ticket.live_prediction)


def ticket_triaged(ticket: Ticket, decision: Decision) -> None:
    _send(
        {
            "type": "queue.event",
            "event": "ticket_removed",
            "ticket_id": ticket.pk,
            "category": decision.chosen.name,
            "agent": decision.agent.get_username(),
            # The queue it waited in: a page watching it counts one fewer waiting,
            # even when the ticket was beyond the rows it shows.
            "queue": ticket.queue.slug if ticket.queue_id and ticket.queue else "",
        }
    )


def tickets_triaged_bulk(tickets: list[Ticket], agent: str, category: str) -> None:
    """One event for a bulk triage, however many tickets it took."""
    _send(
        {
            "type": "queue.event",
            "event": "tickets_removed",
            "ticket_ids": [t.pk for t in tickets],
            # Per queue, how many left it: a page counts out those beyond its rows too.
            "queues": _queue_counts(tickets),
            "category": category,
            "agent": agent,
        }
    )


def _queue_counts(tickets: list[Ticket]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in tickets:
        slug = t.queue.slug if t.queue_id and t.queue else ""
        counts[slug] = counts.get(slug, 0) + 1
    return counts


def _send(message: dict[str, Any], group: str = QUEUE_GROUP) -> None:
    # The ticket is stored whatever happens here; a failed push is logged, and
    # pages catch up when they reconnect (they reload the queue then).
    layer = get_channel_layer()
    if layer is None:
        logger.error("no channel layer configured; queue pages will not update live")
        return
    loop = _server_loop()
    if loop is not None:
        # Inside an ASGI request: hand the send to the server's event loop and
        # answer the request without waiting for Redis.
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        future.add_done_callback(partial(_log_failure, message))
        return
    try:  # a management command, a worker, a test: send and wait
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        _log_failure(message, None)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the ASGI server this sync code was called from, if any.

    The server runs sync code in worker threads. On the main thread the loop
    asgiref remembers is a short-lived one of an earlier async_to_sync call,
    which may be shutting down: sending there would be cancelled.
    """
    if threading.current_thread() is threading.main_thread():
        return None
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def _log_failure(message: dict[str, Any], future: concurrent.futures.Future[None] | None) -> None:
    if future is not None and not future.cancelled() and future.exception() is None:
        return
    exc = future.exception() if future is not None and not future.cancelled() else None
    logger.error(
        "live update %s for ticket %s failed",
        message.get("event"),
        message.get("ticket_id"),
        exc_info=exc or True,
    )


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send to any page's group after commit, with the same failure handling as the queue."""
    _send(message, group)
