"""Reads of the integrations pages and of the ticket page's conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from triage.integrations.crypto import credential_decrypt
from triage.integrations.models import (
    Delivery,
    DeliveryAttempt,
    HelpdeskIntegration,
    Mailbox,
    MailSkip,
    SourceLink,
    TicketMessage,
    WebhookEndpoint,
)
from triage.models import Ticket


def mailboxes() -> QuerySet[Mailbox]:
    return Mailbox.objects.select_related("queue").order_by("name")


def helpdesks() -> QuerySet[HelpdeskIntegration]:
    return HelpdeskIntegration.objects.select_related("queue").order_by("name")


def endpoints() -> QuerySet[WebhookEndpoint]:
    """Each endpoint with its waiting, delivered and refused counts and its latest attempt."""
    return WebhookEndpoint.objects.annotate(
        waiting=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.PENDING)),
        delivered=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DELIVERED)),
        refused=Count("deliveries", filter=Q(deliveries__status__in=[Delivery.Status.FAILED, Delivery.Status.GAVE_UP])),
        last_delivered=Max("deliveries__delivered_at"),
    ).order_by("name", "id")


def api_source_links() -> QuerySet[SourceLink]:
    """Link templates of API clients' sources (mailboxes and helpdesks keep theirs on their pages)."""
    return SourceLink.objects.exclude(source__startswith="mailbox:").exclude(source__startswith="integration:")


def link_template(source: str) -> str:
    return SourceLink.objects.filter(source=source).values_list("template", flat=True).first() or ""


def mailbox_skips(mailbox: Mailbox, limit: int = 50) -> QuerySet[MailSkip]:
    return mailbox.skips.order_by("-created_at")[:limit]


def endpoint_attempts(endpoint: WebhookEndpoint, limit: int = 100) -> QuerySet[DeliveryAttempt]:
    return (
        DeliveryAttempt.objects.filter(endpoint=endpoint)
        .select_related("delivery", "delivery__event")
        .order_by("-at", "-id")[:limit]
    )


def endpoint_problem_deliveries(endpoint: WebhookEndpoint, limit: int = 50) -> QuerySet[Delivery]:
    """Refused and given-up deliveries: what an admin may want to send again."""
    return (
        Delivery.objects.filter(endpoint=endpoint, status__in=[Delivery.Status.FAILED, Delivery.Status.GAVE_UP])
        .select_related("event")
        .order_by("-event_id")[:limit]
    )


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    return credential_decrypt(endpoint.secret_encrypted)


def helpdesk_secret(helpdesk: HelpdeskIntegration) -> str:
    return credential_decrypt(helpdesk.secret_encrypted)


@dataclass(frozen=True)
class Alerts:
    disabled_endpoints: int
    failing_endpoints: int
    failing_mailboxes: int

    @property
    def total(self) -> int:
        return self.disabled_endpoints + self.failing_endpoints + self.failing_mailboxes


def alerts() -> Alerts:
    """What an admin should look at: endpoints switched off by failures or failing now,
    and mailboxes whose last poll failed."""
    endpoint_counts = WebhookEndpoint.objects.aggregate(
        disabled=Count("id", filter=Q(enabled=False) & ~Q(disabled_reason__startswith="disabled by")),
        failing=Count("id", filter=Q(enabled=True, failing_since__isnull=False)),
    )
    failing_mailboxes = Mailbox.objects.filter(enabled=True).exclude(last_error="").count()
    return Alerts(endpoint_counts["disabled"], endpoint_counts["failing"], failing_mailboxes)


def source_names() -> dict[str, str]:
    """source -> what people call it ("Mailbox “Support”")."""
    names = {m.source: f"Mailbox “{m.name}”" for m in Mailbox.objects.only("id", "name")}
    names.update({h.source: f"{h.get_kind_display()} “{h.name}”" for h in HelpdeskIntegration.objects.all()})
    return names


def conversation(ticket: Ticket) -> list[TicketMessage]:
    return list(TicketMessage.objects.filter(ticket=ticket).order_by("sent_at", "id"))


def attachments(messages: list[TicketMessage]) -> list[dict[str, Any]]:
    return [{**a, "message": m} for m in messages for a in m.attachments]
