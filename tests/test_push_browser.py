"""A queue page that misses a push still ends up showing every waiting ticket."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from channels.layers import get_channel_layer
from playwright.sync_api import Browser, expect

from tests.helpers import log_in, post_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_page_that_missed_a_push_fetches_the_ticket_it_missed(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    integration: Any,
    live_model: Any,
    monkeypatch: Any,
) -> None:
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    # The channel layer drops the push of one ticket, as it does for a socket over its
    # capacity: nothing reaches the page but the next push.
    layer_type = type(get_channel_layer())
    send = layer_type.group_send
    dropped = threading.Event()

    async def lossy_group_send(self: Any, group: str, message: dict[str, Any]) -> None:
        if "Lost in transit" in json.dumps(message):
            dropped.set()
            return
        await send(self, group, message)

    monkeypatch.setattr(layer_type, "group_send", lossy_group_send)
    lost = post_ticket(asgi_server, integration, {"subject": "Lost in transit", "body": "my card was stolen"})
    assert dropped.wait(10)
    arrived = post_ticket(asgi_server, integration, {"subject": "Delivered", "body": "why was I charged a fee"})
    expect(page.locator(f"#ticket-{arrived}")).to_be_visible(timeout=5_000)
    expect(page.locator(f"#ticket-{lost}")).to_be_visible(timeout=5_000)
    expect(page.locator("#queue-count")).to_have_text("2")


def test_a_push_sent_before_the_pages_socket_joined_is_fetched_once_it_does(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    integration: Any,
    live_model: Any,
) -> None:
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    # The page's queue socket is held back (what the page sends meanwhile is kept), so a
    # ticket pushed now goes out before the socket has joined the group.
    held: list[Any] = []
    sent: list[Any] = []

    def hold(ws: Any) -> None:
        ws.on_message(lambda message: sent.append(message))
        held.append(ws)

    page.route_web_socket("**/ws/queue/", hold)
    page.reload()
    expect(page.locator("#queue-count")).to_have_text("0")
    early = post_ticket(asgi_server, integration, {"subject": "Before the socket", "body": "my card was stolen"})
    assert held, "the page opened no queue socket"
    server = held[-1].connect_to_server()
    for message in sent:
        server.send(message)
    held[-1].on_message(lambda message: server.send(message))
    expect(page.locator(f"#ticket-{early}")).to_be_visible(timeout=5_000)
    expect(page.locator("#queue-count")).to_have_text("1")
