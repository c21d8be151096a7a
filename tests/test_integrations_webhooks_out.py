"""Decisions out: events stored with their change, delivered signed to a real HTTP
receiver (pytest-httpserver), retried in order until it recovers, refused for good
on a 4xx, an endpoint disabled after days of failures, sent again on request."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from triage import services
from triage.integrations import outbox
from triage.integrations import services as integrations
from triage.integrations.models import Delivery, DeliveryAttempt, OutboxEvent, WebhookEndpoint
from triage.integrations.selectors import endpoint_secret
from triage.models import Category

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = ["ticket.suggested", "ticket.triaged"]


def receiver(httpserver: HTTPServer, answer: Callable[[Request], Response] | None = None) -> str:
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        answer or (lambda request: Response("ok", status=200))
    )
    return httpserver.url_for("/hook")


def endpoint(url: str, events: list[str] = EVENTS) -> WebhookEndpoint:
    created, secret = integrations.endpoint_save(actor=None, name="Helpdesk", url=url, events=events)
    assert secret.startswith("whsec_")
    return created


def received(httpserver: HTTPServer, only_ok: bool = True) -> list[dict[str, Any]]:
    return [
        json.loads(request.get_data())
        for request, response in httpserver.log
        if not only_ok or response.status_code == 200
    ]


def deliver_all(deadline_seconds: float = 30) -> None:
    """Run the deliverer until nothing waits (retries come due after their short backoff)."""
    deadline = time.monotonic() + deadline_seconds
    while Delivery.objects.filter(status=Delivery.Status.PENDING, endpoint__enabled=True).exists():
        assert time.monotonic() < deadline, "deliveries still waiting"
        outbox.outbox_run()
        time.sleep(0.02)


def test_a_decision_reaches_the_receiver_as_a_signed_event_it_can_verify(
    httpserver: HTTPServer, live_model: Any, agent: Any
) -> None:
    hook = endpoint(receiver(httpserver))
    ticket = services.ticket_ingest(
        subject="Card stolen", body="My card was stolen on the bus", external_id="zd-7"
    ).ticket
    services.ticket_triage(ticket=ticket, agent=agent, category=Category.objects.get(slug="lost-or-stolen-card"))

    outbox.outbox_run()

    secret = endpoint_secret(hook)
    (first, _), (second, _) = httpserver.log
    for request in (first, second):  # verified as a receiver does, with the Standard Webhooks library
        Webhook(secret).verify(request.get_data(), dict(request.headers))
    suggested, triaged = json.loads(first.get_data()), json.loads(second.get_data())
    assert (suggested["type"], suggested["sequence"]) == ("ticket.suggested", 1)
    assert (triaged["type"], triaged["sequence"]) == ("ticket.triaged", 2)
    assert first.headers["webhook-id"] == suggested["id"] and triaged["id"].startswith("evt_")
    data = triaged["data"]
    assert data["ticket"]["id"] == ticket.pk and data["ticket"]["external_id"] == "zd-7"
    assert data["decision"]["agent"] == "alice" and data["decision"]["category"] == "lost-or-stolen-card"
    assert data["decision"]["accepted"] and data["decision"]["model_version"] == live_model.version
    assert data["suggestion"]["category"] == "lost-or-stolen-card"
    with pytest.raises(Exception, match="signature"):
        Webhook(outbox.new_secret()).verify(first.get_data(), dict(first.headers))  # another secret fails
    attempts = list(DeliveryAttempt.objects.filter(endpoint=hook).order_by("at"))
    assert [a.status_code for a in attempts] == [200, 200] and attempts[0].response_excerpt == "ok"
    assert all(a.latency_ms > 0 for a in attempts)


def test_an_event_is_stored_with_its_change_or_not_at_all(live_model: Any, httpserver: HTTPServer) -> None:
    endpoint(receiver(httpserver))
    with pytest.raises(RuntimeError, match="rolled back"), transaction.atomic():
        services.ticket_ingest(subject="Card stolen", body="My card was stolen", external_id="x-1")
        raise RuntimeError("rolled back")
    assert not OutboxEvent.objects.filter(type="ticket.suggested").exists()
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox.event_record(event_type="ticket.triaged", data={})
    services.ticket_ingest(subject="Card stolen", body="My card was stolen", external_id="x-1")
    assert list(OutboxEvent.objects.filter(ticket__isnull=False).values_list("type", "sequence")) == [
        ("ticket.suggested", 1)
    ]


def test_a_receiver_that_fails_then_recovers_gets_every_event_once_by_id_in_per_ticket_order(
    httpserver: HTTPServer, live_model: Any, agent: Any, settings: Any
) -> None:
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 0.05
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 0.2
    state = {"down": True, "calls_while_down": 0}

    def answer(request: Request) -> Response:
        if state["down"]:
            state["calls_while_down"] += 1
            return Response("maintenance", status=503)
        return Response("ok")

    hook = endpoint(receiver(httpserver, answer))
    category = Category.objects.get(slug="card-declined")
    tickets = [services.ticket_ingest(subject="Declined", body=f"My card was declined {i}").ticket for i in range(4)]
    for ticket in tickets[::-1]:  # decisions in another order than the tickets came
        services.ticket_triage(ticket=ticket, agent=agent, category=category)

    outbox.outbox_run()
    hook.refresh_from_db()
    assert state["calls_while_down"] == 1  # held back after one failure, not hammered
    assert hook.failing_since is not None and hook.retry_at is not None and hook.consecutive_failures == 1

    state["down"] = False
    deliver_all()

    events = received(httpserver)
    stored = set(OutboxEvent.objects.filter(ticket__isnull=False).values_list("event_id", flat=True))
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == len(stored) == 8 and set(ids) == stored  # every event, once
    for ticket in tickets:
        sequences = [e["sequence"] for e in events if e["data"]["ticket"]["id"] == ticket.pk]
        assert sequences == [1, 2]  # suggested, then triaged
    failed_id = json.loads(httpserver.log[0][0].get_data())["id"]
    assert failed_id == ids[0]  # the retry carried the same event id
    hook.refresh_from_db()
    assert hook.failing_since is None and hook.consecutive_failures == 0


def test_a_4xx_is_final_and_shown_but_408_409_and_429_are_retried(
    httpserver: HTTPServer, live_model: Any, admin_user: Any, settings: Any
) -> None:
    answers = iter(
        [Response("bad payload", status=422), Response("slow down", status=429, headers={"Retry-After": "120"})]
    )
    hook = endpoint(receiver(httpserver, lambda request: next(answers, Response("ok"))))
    first = services.ticket_ingest(subject="a", body="My card was declined").ticket
    second = services.ticket_ingest(subject="b", body="My transfer is missing").ticket

    outbox.outbox_run()

    deliveries = {d.event.ticket_id: d for d in Delivery.objects.select_related("event")}
    assert deliveries[first.pk].status == "failed" and deliveries[first.pk].last_status_code == 422
    assert deliveries[second.pk].status == "pending"  # 429: retried, after the receiver's Retry-After
    hook.refresh_from_db()
    assert hook.retry_at is not None
    wait = (hook.retry_at - timezone.now()).total_seconds()
    assert 110 < wait <= 120
    assert len(httpserver.log) == 2  # nothing more before then
    outbox.outbox_run()
    assert len(httpserver.log) == 2
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/integrations/endpoints/{hook.pk}/").content.decode()
    assert "Refused by the receiver" in page and "HTTP 422" in page and "bad payload" in page and "429" in page


def test_an_endpoint_failing_for_three_days_is_disabled_stops_being_called_and_admins_see_it(
    httpserver: HTTPServer, live_model: Any, admin_user: Any
) -> None:
    state = {"status": 500}
    hook = endpoint(receiver(httpserver, lambda request: Response("down", status=state["status"])))
    WebhookEndpoint.objects.filter(pk=hook.pk).update(failing_since=timezone.now() - timedelta(hours=73))
    services.ticket_ingest(subject="a", body="My card was declined")

    outbox.outbox_run()

    hook.refresh_from_db()
    assert not hook.enabled and "failing since" in hook.disabled_reason
    calls = len(httpserver.log)
    services.ticket_ingest(subject="b", body="My transfer is missing")
    outbox.outbox_run()
    WebhookEndpoint.objects.filter(pk=hook.pk).update(retry_at=None)
    outbox.outbox_run()
    assert len(httpserver.log) == calls  # not called while disabled
    assert Delivery.objects.filter(endpoint=hook, status="pending").count() == 2  # its events wait

    client = Client()
    client.force_login(admin_user)
    home = client.get("/integrations/").content.decode()
    assert "disabled after failing for days" in home and 'class="nav-alert"' in home
    state["status"] = 200
    assert client.post(f"/integrations/endpoints/{hook.pk}/enable/", {"enabled": "1"}).status_code == 302
    deliver_all()
    assert len(received(httpserver)) == 2


def test_send_again_one_event_or_everything_since_a_time_and_a_test_event(
    httpserver: HTTPServer, live_model: Any, admin_user: Any
) -> None:
    hook = endpoint(receiver(httpserver))
    services.ticket_ingest(subject="a", body="My card was declined")
    services.ticket_ingest(subject="b", body="My transfer is missing")
    outbox.outbox_run()
    first_ids = [e["id"] for e in received(httpserver)]
    client = Client()
    client.force_login(admin_user)

    delivery = Delivery.objects.filter(endpoint=hook).order_by("event_id").first()
    client.post(f"/integrations/deliveries/{delivery.pk}/resend/")
    outbox.outbox_run()
    assert received(httpserver)[-1]["id"] == first_ids[0]  # the same event, the same id

    since = (timezone.localtime() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(f"/integrations/endpoints/{hook.pk}/resend/", {"since": since}).status_code == 302
    outbox.outbox_run()
    assert [e["id"] for e in received(httpserver)][-2:] == first_ids

    assert client.post(f"/integrations/endpoints/{hook.pk}/test/").status_code == 302
    outbox.outbox_run()
    test_event = received(httpserver)[-1]
    assert test_event["type"] == "webhook.test" and test_event["sequence"] is None
    Webhook(endpoint_secret(hook)).verify(httpserver.log[-1][0].get_data(), dict(httpserver.log[-1][0].headers))


def test_an_endpoint_registered_on_the_page_shows_its_secret_to_admins_on_request_only(
    httpserver: HTTPServer, admin_user: Any
) -> None:
    client = Client()
    client.force_login(admin_user)
    url = receiver(httpserver)
    response = client.post(
        "/integrations/endpoints/new/", {"name": "Zendesk", "url": url, "events": ["ticket.triaged"]}
    )
    hook = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/integrations/endpoints/{hook.pk}/"
    secret = endpoint_secret(hook)
    assert secret.startswith("whsec_") and secret not in hook.secret_encrypted
    assert secret not in client.get(f"/integrations/endpoints/{hook.pk}/").content.decode()  # only on request
    revealed = client.post(f"/integrations/endpoints/{hook.pk}/secret/", {"action": "reveal"})
    assert secret in revealed.content.decode()
    bad = client.post("/integrations/endpoints/new/", {"name": "x", "url": url, "events": []})
    assert bad.status_code == 400 and "Choose at least one event" in bad.content.decode()


def test_a_model_going_live_and_a_taxonomy_change_reach_the_endpoints_that_want_them(
    httpserver: HTTPServer, categories: Any, trained_pipeline: Any, admin_user: Any
) -> None:
    from triage.learning.promotion import model_promote
    from triage.learning.registry import model_version_create
    from triage.taxonomy.services import category_create

    endpoint(receiver(httpserver), events=["model.promoted", "taxonomy.changed"])
    version = model_version_create(
        pipeline=trained_pipeline,
        classes=[str(c) for c in trained_pipeline.classes_],
        params={},
        metrics={},
        lineage={"training_rows": 400},
    )
    model_promote(version=version, user=admin_user, reason="first model")
    category_create(actor=admin_user, name="Crypto")
    services.ticket_ingest(subject="a", body="My card was declined")  # ticket.suggested: not wanted

    outbox.outbox_run()

    promoted, changed = received(httpserver)
    assert promoted["type"] == "model.promoted" and promoted["sequence"] is None
    assert promoted["data"]["model"] == {
        "version": version.version,
        "previous": None,
        "action": "promote",
        "by": "ada",
        "reason": "first model",
        "categories": len(version.classes),
    }
    assert changed["type"] == "taxonomy.changed" and changed["data"]["change"]["category"] == "crypto"
    assert changed["data"]["change"]["by"] == "ada" and changed["data"]["change"]["action"] == "create"


def test_an_auto_triaged_ticket_and_its_undo_are_events_too(
    httpserver: HTTPServer, live_model: Any, agent: Any
) -> None:
    endpoint(receiver(httpserver), events=["ticket.auto_triaged", "ticket.undone"])
    Category.objects.filter(slug="lost-or-stolen-card").update(auto_threshold=0.0)
    ticket = services.ticket_ingest(subject="Card stolen", body="My wallet was stolen with my card in it").ticket
    assert ticket.label_source == "auto"
    services.ticket_auto_undo(ticket_id=ticket.pk, agent=agent)

    outbox.outbox_run()

    auto, undone = received(httpserver)
    assert (auto["type"], auto["sequence"], auto["data"]["ticket"]["category"]) == (
        "ticket.auto_triaged",
        1,
        "lost-or-stolen-card",
    )
    assert (undone["type"], undone["sequence"]) == ("ticket.undone", 2)
    assert undone["data"]["undone"] == {"what": "auto_triage", "by": "alice", "decision_id": None}
    assert undone["data"]["ticket"]["status"] == "new" and undone["data"]["ticket"]["category"] is None
