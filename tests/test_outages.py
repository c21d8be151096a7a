"""A database error becomes a 503 with Retry-After, logged as one line, not a traceback
per request (the real outage, a private PostgreSQL stopped and started, is in
tests/test_faults.py)."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from assist import middleware
from triage import services


@pytest.fixture(autouse=True)
def _fresh_outage_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(middleware, "_outage_log", middleware._OutageLog())


def test_an_api_request_during_a_database_outage_is_a_json_503_logged_once(
    ingest_client: Any, categories: Any, caplog: pytest.LogCaptureFixture
) -> None:
    down = OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')
    with (
        mock.patch.object(services, "ticket_ingest", autospec=True, side_effect=down),
        caplog.at_level(logging.INFO),
    ):
        answers = [ingest_client.post("/api/tickets/", {"subject": "s", "body": "b"}, format="json") for _ in range(5)]
    for answer in answers:
        assert answer.status_code == 503 and answer["Content-Type"] == "application/json"
        assert answer["Retry-After"] == "5" and "database is unavailable" in answer.json()["detail"]
    assert not [r for r in caplog.records if r.exc_info], "no traceback per request"
    logged = [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(logged) == 1 and "Connection refused" in logged[0]


def test_health_says_the_database_is_down_with_a_503(db: Any) -> None:
    refused = OperationalError("could not connect to server: Connection refused")
    with mock.patch("triage.views.connection.cursor", side_effect=refused):
        response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert body["ok"] is False and body["status"] == "down" and body["database"] == "down"
    assert "database unreachable" in body["problems"][0]


def test_a_page_during_a_database_outage_is_a_503_not_a_500(agent: Any) -> None:
    client = Client()
    client.force_login(agent)
    with mock.patch("triage.views.selectors.queue_page", side_effect=OperationalError("server closed the connection")):
        response = client.get("/")
    assert response.status_code == 503 and response["Retry-After"] == "5"


@pytest.mark.django_db(transaction=True)
async def test_a_socket_the_channel_layer_cannot_set_up_is_closed_with_1013_not_a_500(agent: Any) -> None:
    import redis
    from channels.layers import get_channel_layer
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from triage.routing import websocket_urlpatterns

    app = middleware.WebsocketOutageGuard(URLRouter(websocket_urlpatterns))
    communicator = WebsocketCommunicator(app, "/ws/queue/")
    communicator.scope["user"] = agent
    refused = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch.object(type(get_channel_layer()), "group_add", side_effect=refused):
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 1013}
