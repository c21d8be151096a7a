"""Helpers shared by test modules: threads that race, the demo history as import rows,
the queue socket, signing in through the real login form, the worker's environment.

Fixtures live in tests/conftest.py; plain functions that several modules call live here.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from triage import demo, services
from triage.broadcast import QUEUE_GROUP
from triage.consumers import QueueConsumer
from triage.models import Category, Prediction, Ticket

ROOT = Path(__file__).resolve().parent.parent


# --- Threads that race --------------------------------------------------------------


def in_thread(call: Any, results: list[Any]) -> threading.Thread:
    """Run `call` in a new thread (with its own database connection), appending what it
    returns, or the exception it raises, to `results`."""

    def run() -> None:
        try:
            results.append(call())
        except Exception as exc:  # a refusal is a result
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def pause_after(module: Any, name: str, monkeypatch: Any) -> tuple[threading.Event, threading.Event]:
    """Make module.name signal `reached` after running, then wait for `go`."""
    reached, go = threading.Event(), threading.Event()
    original = getattr(module, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        reached.set()
        go.wait(10)
        return result

    monkeypatch.setattr(module, name, paused)
    return reached, go


def let_the_second_block_then_go(first: threading.Thread, second: threading.Thread, go: threading.Event) -> None:
    second.join(0.5)  # the second one waits on the first one's lock...
    go.set()  # ...until the first one commits
    first.join(15)
    second.join(15)


# --- The demo history as import rows --------------------------------------------------


def demo_history_rows(
    categories: dict[str, Category],
    count: int,
    *,
    seed: int,
    prefix: str = "h",
    start: datetime | None = None,
    step: timedelta = timedelta(minutes=1),
) -> list[services.HistoryRow]:
    """`count` labelled demo tickets as import rows, `step` apart from `start` (by default
    ten days ago); `step=timedelta(0)` gives a history without times."""
    start = timezone.now() - timedelta(days=10) if start is None else start
    return [
        services.HistoryRow(
            external_id=f"{prefix}{i}",
            subject=t.subject,
            body=t.body,
            category=categories[t.category],
            received_at=start + i * step,
        )
        for i, t in enumerate(demo.generate(count, seed=seed))
    ]


# --- The queue socket ------------------------------------------------------------------


def connect_as(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(QueueConsumer.as_asgi(), "/ws/queue/")
    communicator.scope["user"] = user
    return communicator


# --- Browsers ----------------------------------------------------------------------------


def log_in(browser: Browser, base_url: str, username: str, password: str) -> Page:
    """The queue page, signed in, once its socket is live."""
    page = browser.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a script ran in the page: {dialog.message}"))
    page.goto(base_url + "/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
    return page


def sign_in(browser: Browser, base_url: str, username: str, password: str = "", path: str = "/") -> Page:
    """The login form, filled in (by default with the persona's "pw-<name>"), on a desktop-sized page."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base_url + "/accounts/login/?next=" + path)
    page.fill("#id_username", username)
    page.fill("#id_password", password or "pw-" + username)
    page.click("button[type=submit]")
    return page


# --- Worker subprocesses -------------------------------------------------------------------


def worker_env() -> dict[str, str]:
    """The environment of a worker subprocess on the tests' database and media folder."""
    env = {**os.environ, "MEDIA_ROOT": str(django_settings.MEDIA_ROOT), "PYTHONUNBUFFERED": "1"}
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        env.pop("DATABASE_URL", None)
        env["ASSIST_SQLITE_PATH"] = str(db["NAME"])
    return env


# --- The queue socket's pushes ------------------------------------------------------

# The headers of a socket opened by a page of the site itself (the origin check).
SAME_ORIGIN = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]


async def next_events(socket: WebsocketCommunicator, timeout: float = 5) -> list[dict[str, Any]]:
    """The events of the next batch the socket receives."""
    batch = await socket.receive_json_from(timeout=timeout)
    assert batch["event"] == "batch" and isinstance(batch["seq"], int), batch
    return list(batch["events"])


async def next_event(socket: WebsocketCommunicator, timeout: float = 5) -> dict[str, Any]:
    """The next event the socket receives, alone in its batch (as when nothing else is sent)."""
    events = await next_events(socket, timeout)
    assert len(events) == 1, events
    return events[0]


async def group_members(layer: Any) -> int:
    """How many channels the queue group holds, in the Redis layer or the in-memory one."""
    if hasattr(layer, "groups"):
        return len(layer.groups.get(QUEUE_GROUP, {}))
    async with layer.connection(layer.consistent_hash(QUEUE_GROUP)) as connection:
        return int(await connection.zcard(layer._group_key(QUEUE_GROUP)))


# --- API keys and pages in the browser -----------------------------------------------------------

# A row's class list when it is the selected one.
SELECTED = re.compile(r"\bselected\b")


def api_key(user: Any) -> str:
    """A new API key for `user` (keys are stored as digests: a test keeps the key it was given)."""
    from triage.accounts.services import api_token_issue

    return str(api_token_issue(actor=None, user_id=user.pk, name=f"test {secrets.token_hex(4)}").key)


def post_ticket(base_url: str, integration: Any, ticket: dict[str, str]) -> int:
    """Post through the API over HTTP: a browser test's thread runs Playwright's event
    loop, so a direct `ticket_ingest` there could not broadcast."""
    key = api_key(integration)
    response = requests.post(
        base_url + "/api/tickets/", json=ticket, headers={"Authorization": f"Token {key}"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


# --- Waiting tickets -----------------------------------------------------------------


def waiting(
    subject: str,
    *,
    category: Category | None,
    confidence: float = 0.9,
    body: str = "",
    needs_human: bool = False,
    channel: str = "email",
    language: str = "en",
    urgent: bool = False,
    waited: timedelta = timedelta(minutes=5),
    blind: bool = False,
) -> Ticket:
    """A waiting ticket with its live suggestion, as ingest stores one."""
    ticket = Ticket.objects.create(
        subject=subject,
        body=body or f"body of {subject}",
        channel=channel,
        language=language,
        urgent=urgent,
        blind=blind,
        received_at=timezone.now() - waited,
    )
    if category is not None:
        Prediction.objects.create(
            ticket=ticket,
            rule_name="test",
            suggested=category,
            confidence=confidence,
            needs_human=needs_human,
            abstain_reason="unsure" if needs_human else "",
        )
    return ticket
