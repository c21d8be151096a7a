"""Where tickets come from and where decisions go: mailboxes, helpdesk webhooks in,
the conversation of a mail ticket, source links, and the outbox of events going out
to registered endpoints with each delivery and attempt."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Mailbox(models.Model):
    """An IMAP folder whose new messages become tickets."""

    class Security(models.TextChoices):
        SSL = "ssl", "SSL/TLS"
        STARTTLS = "starttls", "STARTTLS"
        NONE = "none", "None (a local server only)"

    class After(models.TextChoices):
        SEEN = "seen", "Mark it seen"
        MOVE = "move", "Move it to another folder"

    name = models.CharField(max_length=120, unique=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(max_length=16, choices=Security.choices, default=Security.SSL)
    username = models.CharField(max_length=255)
    # A Fernet token (triage.integrations.crypto), never the password itself.
    password_encrypted = models.TextField()
    folder = models.CharField(max_length=255, default="INBOX")
    after = models.CharField(max_length=8, choices=After.choices, default=After.SEEN)
    move_to = models.CharField(max_length=255, blank=True)
    queue = models.ForeignKey("triage.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A ticket channel (triage.models.Channel; the form offers those): no import of
    # triage.models here, which imports this module.
    channel = models.CharField(max_length=16, default="email")
    poll_seconds = models.PositiveIntegerField(default=30)
    enabled = models.BooleanField(default=True)
    # Polling: when it is due, and a lease so that two workers never poll it at once.
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_lease_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What its polls did, for its page.
    tickets_created = models.PositiveIntegerField(default=0)
    replies_joined = models.PositiveIntegerField(default=0)
    not_tickets = models.PositiveIntegerField(default=0)
    bad_mail = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_integrations", "Can connect mailboxes, helpdesks and webhook endpoints")]
        constraints = [
            models.CheckConstraint(condition=Q(poll_seconds__gte=5), name="mailbox_poll_seconds_min"),
            models.CheckConstraint(condition=Q(port__gte=1) & Q(port__lte=65535), name="mailbox_port_range"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def source(self) -> str:
        """Its tickets' source: with the Message-ID, their identity."""
        return f"mailbox:{self.pk}"


class MailSkip(models.Model):
    """A message that did not become a ticket: not one (auto-reply, bounce...) or unreadable."""

    class Kind(models.TextChoices):
        NOT_TICKET = "not_ticket", "Not a ticket"
        BAD = "bad", "Bad mail"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="skips")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reason = models.CharField(max_length=300)
    message_key = models.CharField(max_length=200)
    sender = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Seen again after a failed mark, a message is still counted once.
            models.UniqueConstraint(fields=["mailbox", "message_key"], name="mailskip_unique_message"),
        ]
        indexes = [
            # The mailbox page lists its latest skips.
            models.Index(fields=["mailbox", "-created_at"], name="mailskip_mailbox_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


class TicketMessage(models.Model):
    """One message of a ticket's conversation: the mail that opened it and the replies
    that joined it (by In-Reply-To / References)."""

    ticket = models.ForeignKey("triage.Ticket", on_delete=models.CASCADE, related_name="messages")
    source = models.CharField(max_length=64)
    message_id = models.CharField(max_length=200)
    in_reply_to = models.CharField(max_length=200, blank=True)
    sender = models.CharField(max_length=320, blank=True)
    sender_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    # The whole text as received (HTML turned into text), quotes and signature included.
    text = models.TextField()
    # What this message adds: quoted replies, forwarded history and the signature removed.
    new_text = models.TextField(blank=True)
    # [{"name": ..., "type": ..., "size": bytes}]: listed, never stored.
    attachments = models.JSONField(default=list)
    sent_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="ticketmessage_unique_source_message"),
        ]
        indexes = [
            # A reply finds its thread by the ids it refers to.
            models.Index(fields=["message_id"], name="ticketmessage_message_id"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} on ticket {self.ticket_id}"


class HelpdeskIntegration(models.Model):
    """A helpdesk that posts its new tickets to /api/integrations/<slug>/."""

    class Kind(models.TextChoices):
        ZENDESK = "zendesk", "Zendesk"
        FRESHDESK = "freshdesk", "Freshdesk"
        GENERIC = "generic", "Generic JSON (Standard Webhooks signature)"

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    secret_encrypted = models.TextField()
    # Generic JSON: where each ticket field is in the payload (dotted paths).
    mapping = models.JSONField(default=dict, blank=True)
    queue = models.ForeignKey("triage.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=16, default="web")
    enabled = models.BooleanField(default=True)
    received = models.PositiveIntegerField(default=0)
    tickets_created = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    last_received_at = models.DateTimeField(null=True, blank=True)
    last_refusal = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def source(self) -> str:
        return f"integration:{self.pk}"


class SourceLink(models.Model):
    """How to open a ticket in the system it came from: a URL template per source."""

    source = models.CharField(max_length=64, unique=True)
    # e.g. https://acme.zendesk.com/agent/tickets/{external_id}
    template = models.CharField(max_length=500)

    def __str__(self) -> str:
        return f"{self.source}: {self.template}"


class WebhookEndpoint(models.Model):
    """A receiver of Assist's events (a helpdesk, a data warehouse, a chat bot)."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    secret_encrypted = models.TextField()
    # The event types it receives (triage.integrations.outbox.EVENT_TYPES).
    events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Delivery state: failing since when, how many failures in a row, no attempt before
    # retry_at (backoff or the receiver's Retry-After), and the worker delivering now.
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class OutboxEvent(models.Model):
    """An event stored in the transaction of the change it reports, then delivered."""

    event_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=40)
    ticket = models.ForeignKey("triage.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Per ticket, 1, 2, 3...: receivers order a ticket's events by it.
    sequence = models.PositiveIntegerField(null=True, blank=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once its deliveries exist, one per subscribed endpoint.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "sequence"], name="outboxevent_unique_ticket_sequence"),
        ]
        indexes = [
            # The dispatcher reads the events that have no deliveries yet, oldest first.
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="outboxevent_undispatched"),
            # "Send again everything since": events by time.
            models.Index(fields=["created_at"], name="outboxevent_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class Delivery(models.Model):
    """One event for one endpoint, from pending to delivered (or failed, or given up)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Refused by the receiver"
        GAVE_UP = "gave_up", "Given up"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_unique_endpoint_event"),
        ]
        indexes = [
            # The deliverer takes an endpoint's pending deliveries in event order.
            models.Index(fields=["endpoint", "status", "event"], name="delivery_endpoint_status_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}: {self.status}"


class DeliveryAttempt(models.Model):
    """One POST: the endpoint's delivery log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    latency_ms = models.FloatField()
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            # The endpoint's page: its latest attempts.
            models.Index(fields=["endpoint", "-at"], name="deliveryattempt_endpoint_at"),
        ]

    def __str__(self) -> str:
        return f"attempt at {self.at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
