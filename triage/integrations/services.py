"""Writes of the integrations pages: mailboxes, helpdesks, endpoints, source links,
and sending events again. Secrets are encrypted before they are stored; a mailbox's
password is never read back to a page."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from triage.integrations import links, outbox
from triage.integrations.crypto import credential_encrypt
from triage.integrations.helpdesks import MAPPED_FIELDS, REQUIRED_FIELDS
from triage.integrations.imap import plaintext_problem
from triage.integrations.models import (
    Delivery,
    HelpdeskIntegration,
    Mailbox,
    OutboxEvent,
    SourceLink,
    WebhookEndpoint,
)
from triage.models import Queue

logger = logging.getLogger(__name__)


class IntegrationError(Exception):
    """Bad input, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


def _actor(actor: Any) -> str:
    return actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else "a command"


def _check_link(template: str) -> str:
    template = template.strip()
    problem = links.template_problem(template)
    if problem:
        raise IntegrationError("link_template", problem)
    return template


@transaction.atomic
def source_link_set(*, source: str, template: str) -> SourceLink | None:
    """Set (or, with an empty template, remove) the link template of a source."""
    template = _check_link(template)
    source = source.strip()
    if not source or len(source) > 64:
        raise IntegrationError("source", "A source is 1 to 64 characters, as API clients send it.")
    transaction.on_commit(links.links_changed)
    if not template:
        SourceLink.objects.filter(source=source).delete()
        return None
    link, _ = SourceLink.objects.update_or_create(source=source, defaults={"template": template})
    return link


@transaction.atomic
def mailbox_save(
    *,
    actor: Any,
    mailbox_id: int | None = None,
    name: str,
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    folder: str,
    after: str,
    move_to: str,
    queue: Queue | None,
    channel: str,
    poll_seconds: int,
    enabled: bool,
    link_template: str,
) -> Mailbox:
    """Create or edit a mailbox. An empty password keeps the stored one."""
    mailbox = Mailbox() if mailbox_id is None else Mailbox.objects.select_for_update().get(pk=mailbox_id)
    if mailbox_id is None and not password:
        raise IntegrationError("password", "A new mailbox needs its password.")
    if after == Mailbox.After.MOVE and not move_to.strip():
        raise IntegrationError("move_to", "Name the folder read messages move to.")
    if poll_seconds < 5:
        raise IntegrationError("poll_seconds", "Poll at most every 5 seconds.")
    plaintext = plaintext_problem(host, security)
    if plaintext:
        raise IntegrationError("security", plaintext[0].upper() + plaintext[1:] + ".")
    if Mailbox.objects.exclude(pk=mailbox_id or 0).filter(name__iexact=name.strip()).exists():
        raise IntegrationError("name", f"A mailbox is already called “{name.strip()}”.")
    for field, value in {
        "name": name.strip(),
        "host": host.strip(),
        "port": port,
        "security": security,
        "username": username.strip(),
        "folder": folder.strip() or "INBOX",
        "after": after,
        "move_to": move_to.strip() if after == Mailbox.After.MOVE else "",
        "queue": queue,
        "channel": channel,
        "poll_seconds": poll_seconds,
        "enabled": enabled,
    }.items():
        setattr(mailbox, field, value)
    if password:
        mailbox.password_encrypted = credential_encrypt(password)
    mailbox.next_poll_at = None  # poll with the new settings at once
    template = _check_link(link_template)
    mailbox.save()
    source_link_set(source=mailbox.source, template=template)
    logger.info("%s saved mailbox %s (%s@%s)", _actor(actor), mailbox.pk, mailbox.username, mailbox.host)
    return mailbox


def _channel_delete(channel: Mailbox | HelpdeskIntegration) -> None:
    """A mailbox or helpdesk goes, and its link template with it; its tickets stay
    (and keep their source)."""
    SourceLink.objects.filter(source=channel.source).delete()
    channel.delete()
    transaction.on_commit(links.links_changed)


@transaction.atomic
def mailbox_delete(*, actor: Any, mailbox_id: int) -> None:
    """Stop reading a mailbox."""
    _channel_delete(Mailbox.objects.get(pk=mailbox_id))
    logger.info("%s deleted mailbox %s", _actor(actor), mailbox_id)


def _generic_mapping(mapping: dict[str, str]) -> dict[str, str]:
    cleaned = {f: str(mapping.get(f, "")).strip() for f in MAPPED_FIELDS if str(mapping.get(f, "")).strip()}
    for field in REQUIRED_FIELDS:
        if not cleaned.get(field):
            raise IntegrationError(f"map_{field}", f"Map the payload's {field.replace('_', ' ')} (a dotted path).")
    return cleaned


def _new_inbound_secret(kind: str) -> str:
    return outbox.new_secret() if kind == HelpdeskIntegration.Kind.GENERIC else secrets.token_urlsafe(32)


@transaction.atomic
def helpdesk_save(
    *,
    actor: Any,
    helpdesk_id: int | None = None,
    name: str,
    kind: str,
    secret: str,
    mapping: dict[str, str],
    queue: Queue | None,
    channel: str,
    enabled: bool,
    link_template: str,
) -> HelpdeskIntegration:
    """Create or edit a helpdesk integration. Zendesk's signing secret comes from
    Zendesk; the others get one made here when none is given (shown on its page)."""
    creating = helpdesk_id is None
    helpdesk = (
        HelpdeskIntegration()
        if helpdesk_id is None
        else HelpdeskIntegration.objects.select_for_update().get(pk=helpdesk_id)
    )
    if creating:
        slug = slugify(name)[:60]
        if not slug:
            raise IntegrationError("name", "A name with letters or digits: it makes the webhook's URL.")
        if HelpdeskIntegration.objects.filter(slug=slug).exists():
            raise IntegrationError("name", f"The URL /api/integrations/{slug}/ is taken: choose another name.")
        helpdesk.slug, helpdesk.kind = slug, kind
        if kind == HelpdeskIntegration.Kind.ZENDESK and not secret:
            raise IntegrationError("secret", "Paste the webhook's signing secret from Zendesk.")
        secret = secret or _new_inbound_secret(kind)
    if HelpdeskIntegration.objects.exclude(pk=helpdesk_id or 0).filter(name__iexact=name.strip()).exists():
        raise IntegrationError("name", f"An integration is already called “{name.strip()}”.")
    helpdesk.name = name.strip()
    helpdesk.mapping = _generic_mapping(mapping) if helpdesk.kind == HelpdeskIntegration.Kind.GENERIC else {}
    helpdesk.queue, helpdesk.channel, helpdesk.enabled = queue, channel, enabled
    if secret:
        helpdesk.secret_encrypted = credential_encrypt(secret.strip())
    template = _check_link(link_template)
    helpdesk.save()
    source_link_set(source=helpdesk.source, template=template)
    logger.info("%s saved helpdesk integration %s (%s)", _actor(actor), helpdesk.slug, helpdesk.kind)
    return helpdesk


@transaction.atomic
def helpdesk_delete(*, actor: Any, helpdesk_id: int) -> None:
    """Stop receiving from a helpdesk."""
    helpdesk = HelpdeskIntegration.objects.get(pk=helpdesk_id)
    _channel_delete(helpdesk)
    logger.info("%s deleted helpdesk integration %s", _actor(actor), helpdesk.slug)


@transaction.atomic
def helpdesk_secret_rotate(*, actor: Any, helpdesk_id: int) -> str:
    """A new secret for the sender (not for Zendesk, whose secret Zendesk makes)."""
    helpdesk = HelpdeskIntegration.objects.select_for_update().get(pk=helpdesk_id)
    if helpdesk.kind == HelpdeskIntegration.Kind.ZENDESK:
        raise IntegrationError("secret", "Zendesk makes the signing secret: reset it there, then paste it here.")
    secret = _new_inbound_secret(helpdesk.kind)
    helpdesk.secret_encrypted = credential_encrypt(secret)
    helpdesk.save(update_fields=["secret_encrypted"])
    logger.info("%s made a new secret for helpdesk integration %s", _actor(actor), helpdesk.slug)
    return secret


def _check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(outbox.EVENT_TYPES))
    if unknown:
        raise IntegrationError("events", f"Unknown event {unknown[0]}.")
    if not events:
        raise IntegrationError("events", "Choose at least one event.")
    return [e for e in outbox.EVENT_TYPES if e in events]


@transaction.atomic
def endpoint_save(
    *, actor: Any, endpoint_id: int | None = None, name: str, url: str, events: list[str]
) -> tuple[WebhookEndpoint, str]:
    """Create or edit an endpoint; a new one gets its signing secret (returned, and
    revealed to admins on its page on request)."""
    creating = endpoint_id is None
    endpoint = (
        WebhookEndpoint() if endpoint_id is None else WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    )
    endpoint.name, endpoint.url, endpoint.events = name.strip(), url.strip(), _check_events(events)
    secret = ""
    if creating:
        secret = outbox.new_secret()
        endpoint.secret_encrypted = credential_encrypt(secret)
        endpoint.created_by = actor if getattr(actor, "is_authenticated", False) else None
    endpoint.save()
    transaction.on_commit(outbox.subscriptions_changed)
    logger.info("%s saved webhook endpoint %s (%s: %s)", _actor(actor), endpoint.pk, endpoint.url, endpoint.events)
    return endpoint, secret


@transaction.atomic
def endpoint_secret_rotate(*, actor: Any, endpoint_id: int) -> str:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    secret = outbox.new_secret()
    endpoint.secret_encrypted = credential_encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted"])
    logger.info("%s made a new signing secret for endpoint %s", _actor(actor), endpoint.pk)
    return secret


@transaction.atomic
def endpoint_enable(*, actor: Any, endpoint_id: int, enabled: bool) -> WebhookEndpoint:
    """Switch an endpoint on (its waiting events go out at once) or off (they wait)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.enabled = enabled
    if enabled:
        endpoint.disabled_at, endpoint.disabled_reason = None, ""
        endpoint.failing_since, endpoint.consecutive_failures, endpoint.retry_at = None, 0, None
    else:
        endpoint.disabled_at, endpoint.disabled_reason = timezone.now(), f"disabled by {_actor(actor)}"
    endpoint.save()
    transaction.on_commit(outbox.subscriptions_changed)
    if enabled:
        transaction.on_commit(outbox.deliver_soon)
    logger.info("%s %s endpoint %s", _actor(actor), "enabled" if enabled else "disabled", endpoint.pk)
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor: Any, endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).delete()
    transaction.on_commit(outbox.subscriptions_changed)
    logger.info("%s deleted endpoint %s", _actor(actor), endpoint_id)


@transaction.atomic
def endpoint_test_event(*, actor: Any, endpoint_id: int) -> OutboxEvent:
    """A `webhook.test` event for this endpoint alone, through the same delivery path."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    event = outbox.event_record(
        event_type=outbox.TEST_EVENT,
        data={"endpoint": endpoint.name, "sent_by": _actor(actor), "message": "A test event from Assist."},
    )
    OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=timezone.now())
    Delivery.objects.create(event=event, endpoint=endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(retry_at=None)
    return event


@transaction.atomic
def delivery_resend(*, actor: Any, delivery_id: int) -> Delivery:
    """Send one event again (same event id) to its endpoint, now."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    delivery.status, delivery.last_error = Delivery.Status.PENDING, ""
    delivery.save(update_fields=["status", "last_error"])
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(retry_at=None)
    transaction.on_commit(outbox.deliver_soon)
    logger.info("%s resent event %s to endpoint %s", _actor(actor), delivery.event_id, delivery.endpoint_id)
    return delivery


@transaction.atomic
def deliveries_resend_since(*, actor: Any, endpoint_id: int, since: datetime) -> int:
    """Send again every event since `since` that the endpoint wants (its deliveries,
    whatever became of them; events from before it was registered too)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if since > timezone.now():
        raise IntegrationError("since", "Choose a time in the past.")
    events = OutboxEvent.objects.filter(created_at__gte=since, type__in=endpoint.events)
    try:
        Delivery.objects.bulk_create(
            [Delivery(event_id=pk, endpoint=endpoint) for pk in events.values_list("pk", flat=True)],
            ignore_conflicts=True,
            batch_size=1000,
        )
    except IntegrityError as exc:  # an event deleted meanwhile (its ticket was)
        raise IntegrationError("since", "Events changed meanwhile: try again.") from exc
    count = Delivery.objects.filter(endpoint=endpoint, event__in=events).update(
        status=Delivery.Status.PENDING, last_error=""
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(retry_at=None)
    transaction.on_commit(outbox.deliver_soon)
    logger.info("%s resent %s events since %s to endpoint %s", _actor(actor), count, since, endpoint.pk)
    return count
