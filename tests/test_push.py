"""Queue pushes that cannot be lost silently: numbered batches, slow sockets closed, bad
frames and crashes leaving the group, stale members pruned, unknown paths and foreign
origins refused. Through the real Redis channel layer in CI (tests/test_websocket.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing.websocket import WebsocketCommunicator
from django.db import transaction

from assist.asgi import application
from tests.helpers import SAME_ORIGIN, connect_as, group_members, next_events
from triage import consumers, services
from triage.broadcast import QUEUE_GROUP
from triage.consumers import CLOSE_TOO_SLOW, QueueConsumer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_layer")]


async def test_tickets_committed_together_share_numbered_batches_with_no_number_skipped(agent: Any) -> None:
    socket = connect_as(agent)
    assert (await socket.connect())[0]

    def five_at_once() -> list[int]:
        with transaction.atomic():  # their pushes leave together, after the commit
            return [services.ticket_ingest(subject=f"t{i}", body=f"ticket {i}").ticket.pk for i in range(5)]

    ids = await database_sync_to_async(five_at_once)()
    received: list[int] = []
    seqs: list[int] = []
    while len(received) < len(ids):
        batch = await socket.receive_json_from(timeout=5)
        seqs.append(batch["seq"])
        received += [event["ticket_id"] for event in batch["events"] if event["event"] == "ticket_added"]
    assert received == ids
    # The first goes at once, the rest wait for the next flush: not one message per ticket.
    assert len(seqs) <= 2
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    await socket.disconnect()


async def test_a_page_that_stops_acknowledging_is_closed_with_4429_and_leaves_the_group(
    agent: Any, second_agent: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(consumers, "UNACKED_SECONDS", 0.0, raising=False)
    before = await group_members(channel_layers["default"])
    silent, acking = connect_as(agent), connect_as(second_agent)
    for socket in (silent, acking):
        assert (await socket.connect())[0]
    await database_sync_to_async(services.ticket_ingest)(subject="one", body="first push")
    await next_events(silent)  # received, never acknowledged
    batch = await acking.receive_json_from(timeout=5)
    await acking.send_json_to({"type": "ack", "seq": batch["seq"]})
    await acking.send_json_to({"type": "ping"})  # the acknowledgement is in before the next push
    assert await acking.receive_json_from(timeout=5) == {"event": "pong"}
    second = await database_sync_to_async(services.ticket_ingest)(subject="two", body="second push")
    assert await silent.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_TOO_SLOW}
    assert [e["ticket_id"] for e in await next_events(acking)] == [second.ticket.pk]
    assert await group_members(channel_layers["default"]) == before + 1  # only the acknowledging socket
    await acking.disconnect()


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,  # nested past the parser's recursion limit
        "[1, 2]",
        '"ping"',
        '{"no": "type"}',
        '{"type": "ack", "seq": "7"}',
        '{"type": "subscribe", "group": "models"}',
    ],
    ids=["deeply-nested", "a-list", "a-string", "no-type", "ack-without-a-number", "unknown-type"],
)
async def test_any_bad_frame_closes_the_socket_with_1007_and_leaves_the_group(agent: Any, text: str) -> None:
    before = await group_members(channel_layers["default"])
    socket = connect_as(agent)
    assert (await socket.connect())[0]
    assert await group_members(channel_layers["default"]) == before + 1
    await socket.send_to(text_data=text)
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1007}
    assert await group_members(channel_layers["default"]) == before


async def test_a_socket_whose_handler_fails_still_leaves_the_group(agent: Any, monkeypatch: Any) -> None:
    async def broken(self: Any, content: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(QueueConsumer, "receive_json", broken)
    before = await group_members(channel_layers["default"])
    socket = connect_as(agent)
    assert (await socket.connect())[0]
    assert await group_members(channel_layers["default"]) == before + 1
    await socket.send_json_to({"type": "ping"})
    with pytest.raises(RuntimeError, match="a bug in a handler"):
        await socket.receive_output(timeout=5)
    assert await group_members(channel_layers["default"]) == before


async def test_stale_members_expire_from_the_group_while_open_sockets_stay(
    settings: Any, agent: Any, monkeypatch: Any
) -> None:
    if not hasattr(channel_layers["default"], "consistent_hash"):
        pytest.skip("only the Redis layer expires group members")
    settings.CHANNEL_LAYERS = {
        "default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"]}}
    }
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["group_expiry"] = 2
    channel_layers.backends.clear()
    layer = channel_layers["default"]
    await layer.flush()
    stale = await layer.new_channel()  # a member whose process died without leaving
    await layer.group_add(QUEUE_GROUP, stale)
    socket = connect_as(agent)
    assert (await socket.connect())[0]
    key = layer._group_key(QUEUE_GROUP)
    deadline = time.monotonic() + 15
    async with layer.connection(layer.consistent_hash(QUEUE_GROUP)) as connection:
        while await connection.zscore(key, stale) is not None:
            assert time.monotonic() < deadline, "the stale member was never pruned"
            # Each push prunes the members whose membership expired.
            await database_sync_to_async(services.ticket_ingest)(subject="push", body="prunes the group")
            await asyncio.sleep(0.3)
    assert await group_members(layer) == 1  # the open socket renewed its membership
    last = await database_sync_to_async(services.ticket_ingest)(subject="still", body="still delivered")
    events: list[dict[str, Any]] = []
    while not any(e.get("ticket_id") == last.ticket.pk for e in events):
        events = await next_events(socket)
    await socket.disconnect()


async def test_an_unknown_socket_path_is_refused_at_the_handshake(caplog: pytest.LogCaptureFixture) -> None:
    communicator = WebsocketCommunicator(application, "/ws/nonexistent/", headers=SAME_ORIGIN)
    connected, _ = await communicator.connect()
    assert not connected  # closed before the handshake completes: an HTTP 403
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


@pytest.mark.parametrize(
    ("host", "origin", "allowed"),
    [
        (b"127.0.0.1:8620", b"http://127.0.0.1:8620", True),
        (b"127.0.0.1:8620", b"http://127.0.0.1:9999", False),  # another service on the same host
        (b"127.0.0.1:8620", b"https://127.0.0.1:8620", False),
        (b"127.0.0.1:8620", b"http://127.0.0.1", False),
        (b"127.0.0.1", b"http://127.0.0.1:80", True),
        (b"internal:8000", b"https://assist.example", True),  # in CSRF_TRUSTED_ORIGINS
        (b"internal:8000", b"https://assist.example:8443", False),
        (b"127.0.0.1:8620", b"null", False),
    ],
)
async def test_a_socket_opens_only_from_the_sites_own_scheme_host_and_port(
    settings: Any, host: bytes, origin: bytes, allowed: bool
) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1", "internal", "assist.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://assist.example"]
    communicator = WebsocketCommunicator(application, "/ws/queue/", headers=[(b"host", host), (b"origin", origin)])
    connected, _ = await communicator.connect()
    assert connected is allowed
    if connected:  # anonymous: refused after the handshake, as the tests of roles expect
        await communicator.disconnect()


async def test_a_page_asking_for_the_latest_number_gets_that_of_the_last_batch(agent: Any) -> None:
    socket = connect_as(agent)
    assert (await socket.connect())[0]
    await database_sync_to_async(services.ticket_ingest)(subject="one", body="a push")
    batch = await socket.receive_json_from(timeout=5)
    await socket.send_json_to({"type": "sync"})
    assert await socket.receive_json_from(timeout=5) == {"event": "sync", "seq": batch["seq"]}
    await socket.disconnect()
