"""Live updates to the agents' queue pages, sent only after the transaction commits.

Rows are rendered by the same code as the page (`triage.queue_row`), so ticket text
is escaped in the websocket payload exactly as in the page.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import weakref
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
    # pages catch up from the gap in sequence numbers or when they reconnect.
    layer = get_channel_layer()
    if layer is None:
        logger.error("no channel layer configured; queue pages will not update live")
        return
    loop = _server_loop()
    if loop is not None:
        # Inside an ASGI request: hand the event to the server's event loop and
        # answer the request without waiting for Redis.
        if group == QUEUE_GROUP:
            loop.call_soon_threadsafe(_batcher(loop).add, message)
        else:
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            future.add_done_callback(partial(_log_failure, [message]))
        return
    try:  # a management command, a worker, a test: send and wait
        if group == QUEUE_GROUP:
            async_to_sync(_send_batch)(group, [message])
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        _log_failure([message], None)


# Queue events wait at most this long to share one group message: under load the
# fan-out (one Redis write per socket) grows with the flush rate, not the ticket rate.
FLUSH_SECONDS = 0.1


class _Batcher:
    """Queue events of one process, sent as one numbered group message per flush: at
    once when the last flush was FLUSH_SECONDS ago or more, otherwise when it will be."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[dict[str, Any]] = []
        self.running = False
        self.flushed_at = float("-inf")

    def add(self, message: dict[str, Any]) -> None:
        self.pending.append(message)
        if not self.running:
            self.running = True
            self.loop.create_task(self.run())

    async def run(self) -> None:
        try:
            while self.pending:
                wait = self.flushed_at + FLUSH_SECONDS - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                batch, self.pending = self.pending, []
                self.flushed_at = self.loop.time()
                try:
                    await _send_batch(QUEUE_GROUP, batch)
                except Exception:
                    _log_failure(batch, None)
        finally:
            self.running = False


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = weakref.WeakKeyDictionary()


_batchers_lock = threading.Lock()


def _batcher(loop: asyncio.AbstractEventLoop) -> _Batcher:
    with _batchers_lock:  # request threads ask at once: one batcher per loop keeps the order
        batcher = _batchers.get(loop)
        if batcher is None:
            batcher = _batchers[loop] = _Batcher(loop)
        return batcher


async def _send_batch(group: str, events: list[dict[str, Any]]) -> None:
    """One group message for `events`, numbered from the group's sequence: a page that
    sees a number skipped knows it missed a message and fetches its rows again. The
    text is encoded once here, not once per socket."""
    layer = get_channel_layer()
    seq = await sequence_next(layer, group)
    body = [{key: value for key, value in event.items() if key != "type"} for event in events]
    text = json.dumps({"event": "batch", "seq": seq, "events": body}, separators=(",", ":"))
    await layer.group_send(group, {"type": "queue.batch", "seq": seq, "text": text})


async def sequence_next(layer: Any, group: str) -> int:
    """The next number of `group`'s sequence, shared by every process through Redis
    (one process's own count with the in-memory layer, which only it can use)."""
    if hasattr(layer, "consistent_hash") and hasattr(layer, "connection"):  # channels_redis
        async with layer.connection(layer.consistent_hash(group)) as connection:
            return int(await connection.incr(f"{layer.prefix}:seq:{group}"))
    counters: dict[str, int] = layer.__dict__.setdefault("assist_sequences", {})
    counters[group] = counters.get(group, 0) + 1
    return counters[group]


def queue_sequence() -> int | None:
    """The number of the queue's latest push, for a page about to read its rows: a page
    whose socket then reports a later number missed pushes between its rows and its
    socket, and fetches the rows again. None when the channel layer cannot say."""
    layer = get_channel_layer()
    if layer is None:
        return None
    try:
        return async_to_sync(sequence_current)(layer, QUEUE_GROUP)
    except Exception:
        logger.warning("could not read the queue's push number; the page will fetch its rows once live", exc_info=True)
        return None


async def sequence_current(layer: Any, group: str) -> int:
    """The number of `group`'s latest message (0 before the first)."""
    if hasattr(layer, "consistent_hash") and hasattr(layer, "connection"):
        async with layer.connection(layer.consistent_hash(group)) as connection:
            return int(await connection.get(f"{layer.prefix}:seq:{group}") or 0)
    return int(layer.__dict__.get("assist_sequences", {}).get(group, 0))


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


def _log_failure(events: list[dict[str, Any]], future: concurrent.futures.Future[None] | None) -> None:
    if future is not None and not future.cancelled() and future.exception() is None:
        return
    exc = future.exception() if future is not None and not future.cancelled() else None
    first = events[0]
    more = f" (and {len(events) - 1} more)" if len(events) > 1 else ""
    logger.error(
        "live update %s for ticket %s%s failed",
        first.get("event"),
        first.get("ticket_id"),
        more,
        exc_info=exc or True,
    )


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send to any page's group after commit, with the same failure handling as the queue."""
    _send(message, group)
