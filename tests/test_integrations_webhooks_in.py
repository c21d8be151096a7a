"""Helpdesk webhooks in: Zendesk, Freshdesk and generic JSON payloads, each checked
as its sender signs it; a replay, a wrong or a missing signature is a 401 with nothing
stored; the same helpdesk ticket twice is one ticket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from standardwebhooks import Webhook

from triage.integrations import services
from triage.integrations.models import HelpdeskIntegration
from triage.integrations.selectors import helpdesk_secret
from triage.models import Ticket

ZENDESK_SECRET = "dGhpcyBpcyBhIHplbmRlc2sgc2VjcmV0"
ZENDESK_EVENT = {
    "type": "zen:event-type:ticket.created",
    "account_id": 22129848,
    "id": "cbe4028c-7239-495d-b020-f22348516046",
    "subject": "zen:ticket:5158",
    "time": "2026-01-08T10:12:07.672717030Z",
    "zendesk_event_version": "2022-11-06",
    "detail": {
        "id": "5158",
        "subject": "Card stolen",
        "description": "<p>My wallet was stolen on the train with my card inside</p>",
        "requester_id": "8447388090494",
        "created_at": "2026-01-08T10:12:07Z",
        "status": "NEW",
    },
    "event": {},
}


def helpdesk(kind: str, **overrides: Any) -> HelpdeskIntegration:
    fields: dict[str, Any] = {
        "name": f"{kind} desk",
        "kind": kind,
        "secret": ZENDESK_SECRET if kind == "zendesk" else "",
        "mapping": {},
        "queue": None,
        "channel": "web",
        "enabled": True,
        "link_template": "https://acme.zendesk.com/agent/tickets/{external_id}",
    }
    fields.update(overrides)
    return services.helpdesk_save(actor=None, **fields)


def zendesk_headers(body: bytes, secret: str = ZENDESK_SECRET, when: datetime | None = None) -> dict[str, str]:
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return {"HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": signature, "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": stamp}


def post(client: Client, slug: str, body: bytes, **headers: str) -> Any:
    return client.post(f"/api/integrations/{slug}/", body, content_type="application/json", **headers)


def test_a_signed_zendesk_ticket_is_stored_once_however_often_it_is_sent(client: Client, live_model: Any) -> None:
    desk = helpdesk("zendesk")
    body = json.dumps(ZENDESK_EVENT).encode()

    first = post(client, desk.slug, body, **zendesk_headers(body))
    again = post(client, desk.slug, body, **zendesk_headers(body))

    assert first.status_code == 201 and again.status_code == 200, first.content
    assert first.json()["ticket"] == again.json()["ticket"]
    ticket = Ticket.objects.get()
    assert (ticket.source, ticket.external_id) == (desk.source, "5158")
    assert ticket.subject == "Card stolen" and ticket.body == "My wallet was stolen on the train with my card inside"
    assert ticket.live_prediction.suggested.slug == "lost-or-stolen-card"
    desk.refresh_from_db()
    assert (desk.received, desk.tickets_created, desk.refused) == (2, 1, 0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": "bm90IGEgc2lnbmF0dXJl", "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": "x"},
        "wrong secret",
        "six minutes old",
        "tampered body",
    ],
    ids=["unsigned", "garbage", "wrong-secret", "replayed", "tampered"],
)
def test_a_zendesk_request_not_signed_right_is_refused_and_nothing_stored(
    client: Client, live_model: Any, headers: Any
) -> None:
    desk = helpdesk("zendesk")
    body = json.dumps(ZENDESK_EVENT).encode()
    if headers == "wrong secret":
        headers = zendesk_headers(body, secret="another-secret")
    elif headers == "six minutes old":
        headers = zendesk_headers(body, when=datetime.now(UTC) - timedelta(minutes=6))
    elif headers == "tampered body":
        headers = zendesk_headers(body)
        body = body.replace(b"Card stolen", b"Card found!")

    response = post(client, desk.slug, body, **headers)

    assert response.status_code == 401 and "Refused" in response.json()["detail"]
    assert not Ticket.objects.exists()
    desk.refresh_from_db()
    assert desk.refused == 1 and desk.last_refusal


def test_freshdesk_authenticates_with_its_secret_as_basic_auth(client: Client, live_model: Any) -> None:
    desk = helpdesk("freshdesk")
    secret = helpdesk_secret(desk)
    body = json.dumps(
        {
            "freshdesk_webhook": {
                "ticket_id": 812,
                "ticket_subject": "Transfer missing",
                "ticket_description": "<div>My transfer to my landlord has not arrived</div>",
                "ticket_contact_email": "ann@example.com",
            }
        }
    ).encode()
    good = "Basic " + base64.b64encode(f"assist:{secret}".encode()).decode()
    bad = "Basic " + base64.b64encode(b"assist:guess").decode()

    assert post(client, desk.slug, body, HTTP_AUTHORIZATION=bad).status_code == 401
    assert not Ticket.objects.exists()
    response = post(client, desk.slug, body, HTTP_AUTHORIZATION=good)

    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get()
    assert ticket.external_id == "812" and ticket.customer_ref == "ann@example.com"
    assert ticket.body == "My transfer to my landlord has not arrived"


def _standard_headers(secret: str, body: bytes, when: datetime | None = None, msg_id: str = "msg_1") -> dict[str, str]:
    when = when or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(when.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def test_a_generic_json_payload_is_read_through_the_admins_mapping(client: Client, live_model: Any) -> None:
    mapping = {"external_id": "issue.key", "subject": "issue.fields.summary", "body": "issue.fields.description"}
    desk = helpdesk("generic", mapping=mapping, link_template="")
    secret = helpdesk_secret(desk)
    body = json.dumps(
        {"issue": {"key": "SUP-12", "fields": {"summary": "Fee", "description": "Why was I charged a monthly fee"}}}
    ).encode()

    response = post(client, desk.slug, body, **_standard_headers(secret, body))
    assert response.status_code == 201, response.content
    assert Ticket.objects.get().external_id == "SUP-12"

    replay = post(client, desk.slug, body, **_standard_headers(secret, body, datetime.now(UTC) - timedelta(minutes=6)))
    assert replay.status_code == 401
    missing = json.dumps({"issue": {"key": "SUP-13", "fields": {"summary": "no description"}}}).encode()
    unreadable = post(client, desk.slug, missing, **_standard_headers(secret, missing, msg_id="msg_2"))
    assert unreadable.status_code == 400 and "issue.fields.description" in unreadable.json()["body"][0]
    assert Ticket.objects.count() == 1


def test_an_unknown_or_disabled_integration_is_a_404_and_a_huge_body_a_413(
    client: Client, live_model: Any, settings: Any
) -> None:
    desk = helpdesk("zendesk", enabled=False)
    body = json.dumps(ZENDESK_EVENT).encode()
    assert post(client, "nobody", body).status_code == 404
    assert post(client, desk.slug, body, **zendesk_headers(body)).status_code == 404
    HelpdeskIntegration.objects.filter(pk=desk.pk).update(enabled=True)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = json.dumps({**ZENDESK_EVENT, "padding": "x" * 2000}).encode()
    assert post(client, desk.slug, big, **zendesk_headers(big)).status_code == 413
