"""The queue websocket, through the real Redis channel layer (Channels' WebsocketCommunicator)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from assist.asgi import application
from tests.helpers import SAME_ORIGIN, connect_as, group_members, next_event, next_events
from triage import consumers, services
from triage.consumers import CLOSE_FORBIDDEN, CLOSE_INVALID, CLOSE_UNSUPPORTED
from triage.models import Category

pytestmark = [pytest.mark.django_db(transaction=True)]


async def assert_refused(communicator: WebsocketCommunicator) -> None:
    """Refused after the handshake, with 4403 in the close frame: a browser sees that code
    (a handshake refusal reaches it as 1006, like a network drop, and the page would retry)."""
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}


async def test_it_refuses_an_unauthenticated_socket(redis_layer: Any) -> None:
    await assert_refused(WebsocketCommunicator(application, "/ws/queue/", headers=SAME_ORIGIN))


async def test_it_refuses_a_user_without_the_agent_role(redis_layer: Any, outsider: Any) -> None:
    await assert_refused(connect_as(outsider))
    await assert_refused(connect_as(AnonymousUser()))


async def test_an_open_socket_stops_when_its_user_loses_the_agent_role(
    redis_layer: Any, agent: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)
    socket = connect_as(agent)
    assert (await socket.connect())[0]
    first = await database_sync_to_async(services.ticket_ingest)(subject="one", body="still an agent")
    assert (await next_event(socket))["ticket_id"] == first.ticket.pk
    await database_sync_to_async(agent.groups.clear)()
    await database_sync_to_async(services.ticket_ingest)(subject="two", body="<b>not for you</b>")
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    assert await socket.receive_nothing(timeout=0.5)


async def test_an_open_socket_stops_when_its_user_logs_out(redis_layer: Any, agent: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)
    browser = Client()
    await database_sync_to_async(browser.force_login)(agent)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    socket = WebsocketCommunicator(application, "/ws/queue/", headers=[*SAME_ORIGIN, (b"cookie", cookie.encode())])
    assert (await socket.connect())[0]
    first = await database_sync_to_async(services.ticket_ingest)(subject="one", body="signed in")
    assert (await next_event(socket))["ticket_id"] == first.ticket.pk
    await database_sync_to_async(browser.logout)()
    await database_sync_to_async(services.ticket_ingest)(subject="two", body="signed out")
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}


@pytest.mark.parametrize(
    ("frame", "code"), [({"text_data": "not json"}, CLOSE_INVALID), ({"bytes_data": b"\x00\x01"}, CLOSE_UNSUPPORTED)]
)
async def test_a_frame_that_is_not_json_closes_the_socket_and_leaves_the_group(
    redis_layer: Any, agent: Any, frame: dict[str, Any], code: int
) -> None:
    before = await group_members(redis_layer)
    socket = connect_as(agent)
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"event": "pong"}
    assert await group_members(redis_layer) == before + 1
    await socket.send_to(**frame)
    # A clean close with the RFC 6455 code, not an exception out of the consumer.
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": code}
    assert await group_members(redis_layer) == before
    await database_sync_to_async(services.ticket_ingest)(subject="after", body="not sent to a closed socket")
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_it_refuses_a_foreign_origin(redis_layer: Any) -> None:
    communicator = WebsocketCommunicator(application, "/ws/queue/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_new_ticket_reaches_every_agent_escaped(  # through Redis in CI
    redis_layer: Any, agent: Any, second_agent: Any, live_model: Any
) -> None:
    sockets = [connect_as(agent), connect_as(second_agent)]
    for socket in sockets:
        connected, _ = await socket.connect()
        assert connected
    result = await database_sync_to_async(services.ticket_ingest)(
        subject="<script>alert(1)</script>", body="I lost my card <img src=x onerror=alert(2)>"
    )
    for socket in sockets:
        message = await next_event(socket)
        assert message["event"] == "ticket_added" and message["ticket_id"] == result.ticket.pk
        html = message["html"]
        assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;/script&gt;" in html
        assert "<img" not in html and "&lt;img src=x" in html
        assert 'data-suggested="lost-or-stolen-card"' in html
        await socket.disconnect()


async def test_a_triaged_ticket_leaves_every_queue(redis_layer: Any, agent: Any, second_agent: Any) -> None:
    category = await database_sync_to_async(Category.objects.create)(slug="fees", name="Fees")
    ticket = (await database_sync_to_async(services.ticket_ingest)(subject="fee", body="why a fee")).ticket
    watcher = connect_as(second_agent)
    assert (await watcher.connect())[0]
    await database_sync_to_async(services.ticket_triage)(ticket=ticket, agent=agent, category=category)
    # The ticket's own arrival may reach the watcher first: its push leaves at the next flush.
    events: list[dict[str, Any]] = []
    while not any(e["event"] == "ticket_removed" for e in events):
        events += await next_events(watcher)
    message = next(e for e in events if e["event"] == "ticket_removed")
    assert message == {
        "event": "ticket_removed",
        "ticket_id": ticket.pk,
        "category": "Fees",
        "agent": "alice",
        "queue": "",
    }
    await watcher.disconnect()


async def test_nothing_is_broadcast_when_the_transaction_rolls_back(redis_layer: Any, agent: Any) -> None:
    from django.db import transaction

    watcher = connect_as(agent)
    assert (await watcher.connect())[0]

    def ingest_then_fail() -> None:
        with transaction.atomic():
            services.ticket_ingest(subject="x", body="never committed")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await database_sync_to_async(ingest_then_fail)()
    assert await watcher.receive_nothing(timeout=0.5)
    await watcher.disconnect()


async def test_tickets_are_stored_when_the_channel_layer_is_down(
    settings: Any, agent: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every push fails. The ticket must still be stored, and the failure logged.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}
    }
    channel_layers.backends.clear()
    try:
        result = await database_sync_to_async(services.ticket_ingest)(subject="x", body="redis is down")
        assert result.created and result.ticket.pk
        # The push runs on the event loop after the answer: wait for its failure to be logged.
        for _ in range(100):
            if any("live update ticket_added" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    finally:
        channel_layers.backends.clear()
    assert any("live update ticket_added" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records), (
        "the failed push was not logged"
    )


def test_tickets_posted_through_a_synchronous_handler_reach_the_queue(redis_layer: Any, integration: Any) -> None:
    # A sync request (the test client, a WSGI server) runs the view on the main
    # thread inside a short-lived event loop of asgiref's: a push handed to that
    # loop would be cancelled when the request ends. It must arrive.
    from asgiref.sync import async_to_sync

    from tests.conftest import client_for

    channel = async_to_sync(redis_layer.new_channel)()
    async_to_sync(redis_layer.group_add)("queue", channel)
    api = client_for(integration)
    ids = [
        api.post("/api/tickets/", {"subject": "x", "body": f"posted {i}"}, format="json").json()["id"] for i in range(3)
    ]

    async def receive_all() -> list[int]:
        batches = [await asyncio.wait_for(redis_layer.receive(channel), 5) for _ in ids]
        return [event["ticket_id"] for batch in batches for event in json.loads(batch["text"])["events"]]

    assert async_to_sync(receive_all)() == ids
