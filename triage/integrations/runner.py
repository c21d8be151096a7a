"""Mail polls and deliveries inside the web process, for Channels' in-memory layer.

The in-memory layer (`make run` without REDIS_URL) reaches only the process it lives
in: a ticket stored by a worker process would never be pushed to the agents' pages.
So without Redis the web server polls the mailboxes itself (ASSIST_INTEGRATIONS_IN_WEB,
started by the ASGI lifespan in assist/asgi.py), each poll on a thread that knows the
server's event loop, where the queue's live updates go out. With Redis the Celery
worker of the "integrations" queue does this work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from triage.integrations import mail, outbox

logger = logging.getLogger(__name__)

TICK_SECONDS = 5.0


def tick() -> None:
    """Poll the mailboxes that are due, then deliver what is waiting."""
    try:
        for mailbox_id in mail.mailboxes_due():
            try:
                mail.mailbox_poll(mailbox_id=mailbox_id)
            except Exception:
                logger.exception("mailbox %s: poll failed", mailbox_id)
        outbox.outbox_run()
    except Exception:
        logger.exception("the in-process integrations tick failed; the next one tries again")
    finally:
        close_old_connections()


async def run(stop: asyncio.Event) -> None:
    logger.info("polling mailboxes and delivering webhooks in the web process (no Redis)")
    while not stop.is_set():
        await sync_to_async(tick, thread_sensitive=False)()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
