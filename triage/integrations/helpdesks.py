"""Helpdesk webhooks in: `POST /api/integrations/<slug>/`.

Each kind is checked as its sender documents it, then read in the payload shape it
documents:

- Zendesk signs the timestamp and the raw body: base64(HMAC-SHA256(timestamp + body))
  in `X-Zendesk-Webhook-Signature`, the timestamp in
  `X-Zendesk-Webhook-Signature-Timestamp`. Payloads: the ticket-created event
  (`zen:event-type:ticket.created`, the ticket in `detail`) or a trigger's JSON with
  a `ticket` object.
- Freshdesk does not sign its webhooks; its automation rules authenticate with HTTP
  Basic (username and password, or an API key), so the secret is the Basic password
  (or username). Without a signed timestamp a replay cannot be told by time: it is
  harmless, since the same Freshdesk ticket stays one ticket. Payloads: the rule's
  "simple" body (`freshdesk_webhook` with `ticket_id`, `ticket_subject`...) or a JSON
  `ticket` object.
- Generic JSON is signed as Standard Webhooks specify (`webhook-id`,
  `webhook-timestamp`, `webhook-signature`), and read through the admin's mapping of
  dotted paths.

A request that is not signed right is refused (401) before anything is read or stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from triage import services
from triage.integrations.crypto import credential_decrypt
from triage.integrations.models import HelpdeskIntegration
from triage.models import ticket_subject_limit

logger = logging.getLogger(__name__)

# A signature timestamp further than this from now is a replay (Standard Webhooks' own tolerance).
REPLAY_TOLERANCE_SECONDS = 300
# The generic mapping's fields, and which must be there.
MAPPED_FIELDS = ("external_id", "subject", "body", "customer_ref", "received_at")
REQUIRED_FIELDS = ("external_id", "body")


class Refused(Exception):
    """Not signed right (401)."""


class BadPayload(Exception):
    """Signed right, but not a ticket we can read (400, naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class IncomingTicket:
    external_id: str
    subject: str
    body: str
    customer_ref: str = ""
    received_at: datetime | None = None


def signature_check(integration: HelpdeskIntegration, body: bytes, headers: dict[str, str]) -> None:
    """Raise Refused unless the request is signed (or authenticated) as its sender does it."""
    secret = credential_decrypt(integration.secret_encrypted)
    headers = {k.lower(): v for k, v in headers.items()}
    if integration.kind == HelpdeskIntegration.Kind.ZENDESK:
        _zendesk_check(secret, body, headers)
    elif integration.kind == HelpdeskIntegration.Kind.FRESHDESK:
        _basic_check(secret, headers)
    else:
        _standard_check(secret, body, headers)


def _fresh(when: datetime) -> None:
    age = abs((timezone.now() - when).total_seconds())
    if age > REPLAY_TOLERANCE_SECONDS:
        raise Refused(f"the signature's timestamp is {age:.0f} s from now: a replay or a wrong clock")


def _zendesk_check(secret: str, body: bytes, headers: dict[str, str]) -> None:
    signature = headers.get("x-zendesk-webhook-signature", "")
    stamp = headers.get("x-zendesk-webhook-signature-timestamp", "")
    if not signature or not stamp:
        raise Refused("unsigned: X-Zendesk-Webhook-Signature and its timestamp are required")
    expected = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature.strip().encode()):
        raise Refused("wrong signature")
    when = parse_datetime(stamp.strip())
    if when is None:
        raise Refused("the signature's timestamp is not a date and time")
    _fresh(when if when.tzinfo else when.replace(tzinfo=UTC))


def _basic_check(secret: str, headers: dict[str, str]) -> None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not token:
        raise Refused("unauthenticated: Freshdesk sends the secret as HTTP Basic authentication")
    try:
        username, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Refused("malformed Basic authentication") from exc
    # Freshdesk's "API key" option sends the key as the username (password "X").
    if not (
        hmac.compare_digest(password.encode(), secret.encode())
        or hmac.compare_digest(username.encode(), secret.encode())
    ):
        raise Refused("wrong credentials")


def _standard_check(secret: str, body: bytes, headers: dict[str, str]) -> None:
    if not headers.get("webhook-signature"):
        raise Refused("unsigned: webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        raise Refused(str(exc).lower()) from exc
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Refused("malformed signature headers") from exc


def _get(payload: Any, path: str) -> Any:
    value = payload
    for key in path.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()


# Where each kind keeps each field, tried in order (the documented shapes).
_SHAPES: dict[str, dict[str, tuple[str, ...]]] = {
    HelpdeskIntegration.Kind.ZENDESK: {
        "external_id": ("detail.id", "ticket.id", "id"),
        "subject": ("detail.subject", "ticket.subject", "subject"),
        "body": ("detail.description", "ticket.description", "ticket.latest_comment", "description"),
        "customer_ref": ("detail.requester_id", "ticket.requester.email", "ticket.requester_id"),
        "received_at": ("detail.created_at", "ticket.created_at"),
    },
    HelpdeskIntegration.Kind.FRESHDESK: {
        "external_id": ("freshdesk_webhook.ticket_id", "ticket.id", "ticket_id"),
        "subject": ("freshdesk_webhook.ticket_subject", "ticket.subject", "ticket_subject"),
        "body": (
            "freshdesk_webhook.ticket_description_text",
            "freshdesk_webhook.ticket_description",
            "ticket.description_text",
            "ticket.description",
            "ticket_description",
        ),
        "customer_ref": ("freshdesk_webhook.ticket_contact_email", "ticket.requester.email", "ticket.email"),
        "received_at": ("freshdesk_webhook.ticket_created_at", "ticket.created_at"),
    },
}


def payload_read(integration: HelpdeskIntegration, body: bytes) -> IncomingTicket:
    """The ticket in a signed payload; BadPayload names what is missing."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadPayload("body", "not JSON in UTF-8") from exc
    if not isinstance(payload, dict):
        raise BadPayload("body", "a JSON object is expected")
    paths: dict[str, tuple[str, ...]]
    if integration.kind == HelpdeskIntegration.Kind.GENERIC:
        paths = {f: (integration.mapping.get(f, ""),) for f in MAPPED_FIELDS if integration.mapping.get(f)}
    else:
        paths = _SHAPES[integration.kind]
    values: dict[str, str] = {}
    for field in MAPPED_FIELDS:
        for path in paths.get(field, ()):
            value = _text(_get(payload, path))
            if value:
                values[field] = value
                break
    for field in REQUIRED_FIELDS:
        if not values.get(field):
            tried = " or ".join(paths.get(field, ())) or "(no path mapped)"
            raise BadPayload(field, f"missing: looked for {tried}")
    if integration.kind != HelpdeskIntegration.Kind.GENERIC and "<" in values["body"]:
        from inscriptis import get_text

        values["body"] = get_text(values["body"]).strip()  # helpdesks send descriptions as HTML
    return IncomingTicket(
        external_id=values["external_id"][:200],
        subject=values.get("subject", "")[: ticket_subject_limit()],
        body=values["body"],
        customer_ref=values.get("customer_ref", "")[:200],
        received_at=_when(values.get("received_at", "")),
    )


def _when(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        return None
    if parsed is None:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return min(parsed, timezone.now())


@dataclass(frozen=True)
class HelpdeskResult:
    ticket_id: int
    created: bool


def helpdesk_receive(*, integration: HelpdeskIntegration, body: bytes, headers: dict[str, str]) -> HelpdeskResult:
    """Check, read and store one helpdesk ticket. Raises Refused (nothing read or
    stored) or BadPayload (nothing stored)."""
    try:
        signature_check(integration, body, headers)
    except Refused as exc:
        HelpdeskIntegration.objects.filter(pk=integration.pk).update(
            refused=F("refused") + 1, last_refusal=str(exc)[:300]
        )
        logger.warning("integration %s refused a request: %s", integration.slug, exc)
        raise
    incoming = payload_read(integration, body)
    if len(incoming.body) > settings.TICKET_BODY_MAX_CHARS:
        raise BadPayload("body", f"longer than {settings.TICKET_BODY_MAX_CHARS:,} characters")
    result = services.ticket_ingest(
        subject=incoming.subject,
        body=incoming.body,
        source=integration.source,
        external_id=incoming.external_id,
        channel=integration.channel,
        customer_ref=incoming.customer_ref,
        received_at=incoming.received_at,
        queue=integration.queue,
    )
    HelpdeskIntegration.objects.filter(pk=integration.pk).update(
        received=F("received") + 1,
        tickets_created=F("tickets_created") + (1 if result.created else 0),
        last_received_at=timezone.now(),
    )
    return HelpdeskResult(ticket_id=result.ticket.pk, created=result.created)
