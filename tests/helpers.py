"""Helpers shared by test modules: threads that race, the demo history as import rows,
the queue socket, signing in through the real login form, the worker's environment.

Fixtures live in tests/conftest.py; plain functions that several modules call live here.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from triage import demo, services
from triage.consumers import QueueConsumer
from triage.models import Category

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
