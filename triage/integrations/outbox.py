"""The lifecycle of an outbound event: record, dispatch, deliver, retry, give up.

`event_record` is the one way in: any change that others should hear of calls it
inside its own transaction, so the event exists exactly when the change does (an
outbox). After commit a worker fans it out into one `Delivery` per subscribed
endpoint and POSTs it, signed as Standard Webhooks specify (`webhook-id`,
`webhook-timestamp`, `webhook-signature`). An endpoint's deliveries go out one at a
time in event order, so a receiver sees each ticket's events in sequence; a failure
that may pass (a timeout, a refused connection, a 5xx, 408, 409, 429) holds the
endpoint back with exponential backoff and jitter (or the receiver's Retry-After),
and the same event is tried again; another 4xx is final for that event. An event is
given up after WEBHOOK_RETRY_HOURS; an endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS
is disabled, and its deliveries wait until an admin enables it again.

The payload every receiver gets (docs/integrations.md, "Events"):

    {"id": "evt_...", "type": "ticket.triaged", "timestamp": "2026-...Z",
     "sequence": 2, "data": {...}}

`id` is the same on every attempt and every resend (deduplicate on it); `sequence`
numbers a ticket's events 1, 2, 3... (order by it; null for events of no ticket).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from standardwebhooks import Webhook

from triage.integrations.crypto import credential_decrypt
from triage.integrations.models import Delivery, DeliveryAttempt, OutboxEvent, WebhookEndpoint
from triage.models import Ticket

logger = logging.getLogger(__name__)

TICKET_SUGGESTED = "ticket.suggested"
TICKET_TRIAGED = "ticket.triaged"
TICKET_AUTO_TRIAGED = "ticket.auto_triaged"
TICKET_UNDONE = "ticket.undone"
MODEL_PROMOTED = "model.promoted"
TAXONOMY_CHANGED = "taxonomy.changed"
EVENT_TYPES = (TICKET_SUGGESTED, TICKET_TRIAGED, TICKET_AUTO_TRIAGED, TICKET_UNDONE, MODEL_PROMOTED, TAXONOMY_CHANGED)
# Sent by the endpoint page's "Send a test event", to that endpoint only.
TEST_EVENT = "webhook.test"

# 408 Request Timeout, 409 Conflict and 429 Too Many Requests may pass; other 4xx are final.
RETRYABLE_4XX = {408, 409, 429}
# An endpoint's lease: no other worker delivers to it meanwhile (renewed as it goes).
LEASE_SECONDS = 120
EXCERPT_CHARS = 300
USER_AGENT = "Assist-Webhooks/1.0"


def event_record(
    *, event_type: str, data: dict[str, Any], ticket: Ticket | None = None, new_ticket: bool = False
) -> OutboxEvent:
    """Store an event in the transaction of the change it reports; it is delivered
    after that transaction commits, and never if it rolls back.

    A ticket's events are numbered 1, 2, 3... under the ticket's row lock (the change
    being reported holds it already, or this takes it), so two changes to one ticket
    get their numbers in the order they commit. `new_ticket`: the ticket was inserted
    in this transaction, so this is its first event (no lock or count needed).
    """
    _check_recordable(event_type)
    sequence = None
    if ticket is not None and new_ticket:
        sequence = 1
    elif ticket is not None:
        list(Ticket.objects.select_for_update().filter(pk=ticket.pk).values_list("pk"))
        last = OutboxEvent.objects.filter(ticket=ticket).aggregate(m=Max("sequence"))["m"]
        sequence = (last or 0) + 1
    event = OutboxEvent.objects.create(**_event_fields(event_type, data, ticket, sequence))
    transaction.on_commit(partial(_kick, event_type))
    return event


def events_record_many(*, event_type: str, items: list[tuple[Ticket, dict[str, Any]]]) -> None:
    """`event_record` for many tickets whose rows the caller's transaction has locked
    already (a bulk triage): their next numbers in one query, the events in one INSERT."""
    _check_recordable(event_type)
    if not items:
        return
    tickets = [ticket.pk for ticket, _ in items]
    last = dict(
        OutboxEvent.objects.filter(ticket_id__in=tickets)
        .values("ticket_id")
        .annotate(m=Max("sequence"))
        .values_list("ticket_id", "m")
    )
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(**_event_fields(event_type, data, ticket, (last.get(ticket.pk) or 0) + 1))
            for ticket, data in items
        ]
    )
    transaction.on_commit(partial(_kick, event_type))


def _check_recordable(event_type: str) -> None:
    if event_type not in EVENT_TYPES and event_type != TEST_EVENT:
        raise ValueError(f"unknown event type {event_type!r}")
    if not connection.in_atomic_block:
        raise RuntimeError("event_record runs inside the transaction of the change it reports")


def _event_fields(event_type: str, data: dict[str, Any], ticket: Ticket | None, sequence: int | None) -> dict[str, Any]:
    event_id = f"evt_{uuid.uuid4().hex}"
    timestamp = timezone.now().isoformat().replace("+00:00", "Z")
    payload = {"id": event_id, "type": event_type, "timestamp": timestamp, "sequence": sequence, "data": data}
    return {"event_id": event_id, "type": event_type, "ticket": ticket, "sequence": sequence, "payload": payload}


# Which event types some endpoint wants, per process, re-read every few seconds: an
# event nobody wants sends no message to the broker (the periodic sweep still fans
# out whatever a stale answer missed).
_SUBSCRIBED: dict[str, Any] = {"types": frozenset(), "read_at": 0.0}
SUBSCRIBED_TTL_SECONDS = 5.0


def subscriptions_changed() -> None:
    _SUBSCRIBED["read_at"] = 0.0


def _subscribed_types() -> frozenset[str]:
    if time.monotonic() - _SUBSCRIBED["read_at"] > SUBSCRIBED_TTL_SECONDS:
        types: set[str] = set()
        for events in WebhookEndpoint.objects.filter(enabled=True).values_list("events", flat=True):
            types.update(events or [])
        _SUBSCRIBED.update(types=frozenset(types), read_at=time.monotonic())
    return _SUBSCRIBED["types"]


def _kick(event_type: str) -> None:
    if event_type == TEST_EVENT or event_type in _subscribed_types():
        deliver_soon()


def deliver_soon() -> None:
    """Ask a worker to deliver now rather than at the next sweep."""
    try:
        from celery import current_app

        current_app.send_task("triage.integrations.tasks.outbox_run", retry=False)
    except Exception:
        # The event is stored: the sweep (every few seconds) delivers it; say why it waits.
        logger.warning("could not ask a worker to deliver an event now; the periodic sweep will", exc_info=True)


def outbox_dispatch(*, limit: int = 500) -> int:
    """Fan new events out into one delivery per endpoint that wants them. Endpoints
    registered after an event do not get it; disabled ones get it when enabled again."""
    with transaction.atomic():
        pending = OutboxEvent.objects.filter(dispatched_at__isnull=True).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True)
        events = list(pending.only("id", "type", "created_at")[:limit])
        if not events:
            return 0
        endpoints = list(WebhookEndpoint.objects.only("id", "events", "created_at"))
        Delivery.objects.bulk_create(
            [
                Delivery(event_id=e.pk, endpoint_id=ep.pk)
                for e in events
                for ep in endpoints
                if e.type in (ep.events or []) and ep.created_at <= e.created_at
            ],
            ignore_conflicts=True,
        )
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
    return len(events)


def endpoints_due() -> list[int]:
    """Enabled endpoints with waiting deliveries whose backoff is over and no worker holds."""
    now = timezone.now()
    return list(
        WebhookEndpoint.objects.filter(enabled=True, deliveries__status=Delivery.Status.PENDING)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", flat=True)
        .distinct()
    )


def outbox_run() -> int:
    """Dispatch everything new, then deliver to every endpoint that is due."""
    while outbox_dispatch():
        pass
    return sum(endpoint_deliver(endpoint_id=pk) for pk in endpoints_due())


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    retryable: bool
    status_code: int | None
    error: str
    latency_ms: float
    excerpt: str
    retry_after: float | None = None


def endpoint_deliver(*, endpoint_id: int, max_seconds: float = 60.0) -> int:
    """Deliver an endpoint's waiting events in order until none is left, a failure
    holds the endpoint back, or `max_seconds` pass. Returns how many were delivered."""
    now = timezone.now()
    claimed = (
        WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=LEASE_SECONDS))
    )
    if claimed != 1:
        return 0
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    secret = credential_decrypt(endpoint.secret_encrypted)
    delivered, started = 0, time.monotonic()
    try:
        with requests.Session() as http:
            while time.monotonic() - started < max_seconds:
                batch = list(
                    Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING)
                    .select_related("event")
                    .order_by("event_id")[:50]
                )
                if not batch:
                    break
                for delivery in batch:
                    result = _post(http, endpoint, secret, delivery.event)
                    _record(endpoint, delivery, result)
                    if result.ok:
                        delivered += 1
                    elif result.retryable:
                        _hold_back(endpoint, result)
                        return delivered
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                    lease_until=timezone.now() + timedelta(seconds=LEASE_SECONDS)
                )
    finally:
        done: dict[str, Any] = {"lease_until": None}
        if delivered:
            done["last_success_at"] = timezone.now()
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**done)
    return delivered


def _post(http: requests.Session, endpoint: WebhookEndpoint, secret: str, event: OutboxEvent) -> AttemptResult:
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
    now = timezone.now()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event.event_id, now, body),
    }
    started = time.perf_counter()
    try:
        response = http.post(
            endpoint.url,
            data=body.encode(),
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        return _failure("timed out", started)
    except requests.ConnectionError as exc:
        return _failure(f"connection failed: {_root(exc)}", started)
    except requests.RequestException as exc:
        return _failure(f"request failed: {exc}", started)
    latency = (time.perf_counter() - started) * 1000
    code = response.status_code
    excerpt = response.text[:EXCERPT_CHARS] if response.content else ""
    if 200 <= code < 300:
        return AttemptResult(True, False, code, "", latency, excerpt)
    if 300 <= code < 400:  # a moved receiver is a new URL for an admin to enter
        return AttemptResult(False, False, code, f"HTTP {code}: redirects are not followed", latency, excerpt)
    retryable = code >= 500 or code in RETRYABLE_4XX
    retry_after = _retry_after(response.headers.get("Retry-After")) if code in {429, 503} else None
    return AttemptResult(False, retryable, code, f"HTTP {code}", latency, excerpt, retry_after)


def _failure(error: str, started: float) -> AttemptResult:
    return AttemptResult(False, True, None, error[:300], (time.perf_counter() - started) * 1000, "")


def _root(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc)[:200]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _record(endpoint: WebhookEndpoint, delivery: Delivery, result: AttemptResult) -> None:
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            endpoint=endpoint,
            at=now,
            status_code=result.status_code,
            error=result.error,
            latency_ms=round(result.latency_ms, 2),
            response_excerpt=result.excerpt,
        )
        fields: dict[str, Any] = {"attempts": delivery.attempts + 1, "last_status_code": result.status_code}
        if result.ok:
            fields.update(status=Delivery.Status.DELIVERED, delivered_at=now, last_error="")
        elif not result.retryable:
            fields.update(status=Delivery.Status.FAILED, last_error=result.error)
            logger.warning(
                "endpoint %s refused event %s with HTTP %s: not retried",
                endpoint.pk,
                delivery.event.event_id,
                result.status_code,
            )
        else:
            fields.update(last_error=result.error)
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
        if result.ok and (endpoint.failing_since or endpoint.consecutive_failures):
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                failing_since=None, consecutive_failures=0, retry_at=None
            )
            endpoint.failing_since, endpoint.consecutive_failures = None, 0


def backoff_seconds(failures: int) -> float:
    """Exponential from the base to the cap, with jitter: half the delay fixed, half random,
    so endpoints that failed together do not all come back at once."""
    delay = min(settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1), settings.WEBHOOK_BACKOFF_MAX_SECONDS)
    return delay / 2 + random.uniform(0, delay / 2)


def _hold_back(endpoint: WebhookEndpoint, result: AttemptResult) -> None:
    """A failure that may pass: wait before the next attempt, give up on events past
    the retry window, disable an endpoint that has failed for too long."""
    now = timezone.now()
    failures = endpoint.consecutive_failures + 1
    wait = result.retry_after if result.retry_after is not None else backoff_seconds(failures)
    wait = min(wait, settings.WEBHOOK_RETRY_HOURS * 3600)
    failing_since = endpoint.failing_since or now
    fields: dict[str, Any] = {
        "consecutive_failures": failures,
        "failing_since": failing_since,
        "retry_at": now + timedelta(seconds=wait),
    }
    if now - failing_since >= timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS):
        reason = f"failing since {failing_since:%Y-%m-%d %H:%M} UTC (last: {result.error})"
        fields.update(enabled=False, disabled_at=now, disabled_reason=reason[:300])
        logger.error("endpoint %s (%s) disabled: %s", endpoint.pk, endpoint.url, reason)
        subscriptions_changed()
    else:
        logger.warning(
            "endpoint %s (%s) failed (%s); next attempt in %.0f s", endpoint.pk, endpoint.url, result.error, wait
        )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**fields)
    cutoff = now - timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
    gave_up = Delivery.objects.filter(
        endpoint=endpoint, status=Delivery.Status.PENDING, event__created_at__lt=cutoff
    ).update(status=Delivery.Status.GAVE_UP, last_error=f"given up after {settings.WEBHOOK_RETRY_HOURS:g} h")
    if gave_up:
        logger.error("endpoint %s: %s events given up after %g h", endpoint.pk, gave_up, settings.WEBHOOK_RETRY_HOURS)


def new_secret() -> str:
    """A Standard Webhooks signing secret: whsec_ and 32 random bytes in base64."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def ticket_data(
    ticket: Ticket, *, prediction: Any = None, decision: Any = None, undone: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `data` of a ticket event (docs/integrations.md, "Events"): the ticket, the
    suggestion it was shown with (none for the blind slice), and the decision or undo
    the event reports."""
    from triage.integrations.links import source_link

    data: dict[str, Any] = {
        "ticket": {
            "id": ticket.pk,
            "source": ticket.source,
            "external_id": ticket.external_id,
            "link": source_link(ticket),
            "url": f"{settings.PUBLIC_URL}/tickets/{ticket.pk}/" if settings.PUBLIC_URL else None,
            "subject": ticket.subject,
            "channel": ticket.channel,
            "customer_ref": ticket.customer_ref,
            "received_at": _iso(ticket.received_at),
            "status": ticket.status,
            "category": ticket.category.slug if ticket.category_id and ticket.category else None,
            "label_source": ticket.label_source or None,
            "queue": ticket.queue.slug if ticket.queue_id and ticket.queue else None,
            "urgent": ticket.urgent,
        },
        "suggestion": None,
    }
    if prediction is not None and not ticket.blind:
        data["suggestion"] = {
            "category": prediction.suggested.slug,
            "confidence": round(prediction.confidence, 4),
            "needs_human": prediction.needs_human,
            "needs_human_reason": prediction.abstain_reason or None,
            "alternatives": prediction.alternatives,
            "reasons": [r["term"] for r in prediction.reasons],
            "model_version": prediction.model_version.version if prediction.model_version_id else None,
            "rule": prediction.rule_name or None,
        }
    if decision is not None:
        data["decision"] = {
            "id": decision.pk,
            "agent": decision.agent.get_username(),
            "category": decision.chosen.slug,
            "accepted": decision.accepted,
            "suggested": decision.suggested.slug if decision.suggested_id and decision.suggested else None,
            "model_version": decision.model_version.version if decision.model_version_id else None,
            "decided_at": _iso(decision.created_at),
        }
    if undone is not None:
        data["undone"] = undone
    return data


def taxonomy_change_data(change: Any) -> dict[str, Any]:
    """The `data` of a `taxonomy.changed` event: the change as its history records it."""
    return {
        "change": {
            "id": change.pk,
            "action": change.action,
            "category": change.category.slug if change.category_id and change.category else None,
            "target": change.target.slug if change.target_id and change.target else None,
            "summary": change.summary,
            "by": change.actor_name,
            "before": change.before,
            "after": change.after,
        }
    }


def model_promotion_data(promotion: Any) -> dict[str, Any]:
    """The `data` of a `model.promoted` event: which version went live, instead of which, how and why."""
    return {
        "model": {
            "version": promotion.version.version,
            "previous": promotion.previous.version if promotion.previous_id and promotion.previous else None,
            "action": promotion.action,
            "by": promotion.user.get_username() if promotion.user_id and promotion.user else None,
            "reason": promotion.reason,
            "categories": len(promotion.version.classes or []),
        }
    }
