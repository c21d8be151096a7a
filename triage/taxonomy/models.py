"""The taxonomy's tables: queues, routing rules, splits, and the history of every change.

Imported at the end of `triage.models`, so these are models of the `triage` app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Queue(models.Model):
    """Where a category's tickets go (Urgent, Cards, Payments, General...). Agents watch one or all."""

    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """A keyword or regex rule, applied before the model: "subject contains 'lost card' → Lost or stolen card"."""

    class Field(models.TextChoices):
        SUBJECT = "subject", "Subject"
        BODY = "body", "Body"
        ANY = "any", "Subject or body"

    class Kind(models.TextChoices):
        CONTAINS = "contains", "contains (case-insensitive)"
        REGEX = "regex", "matches the regex (case-insensitive)"

    name = models.CharField(max_length=120, unique=True)
    field = models.CharField(max_length=8, choices=Field.choices, default=Field.ANY)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CONTAINS)
    pattern = models.CharField(max_length=300)
    category = models.ForeignKey("triage.Category", on_delete=models.PROTECT, related_name="rules")
    urgent = models.BooleanField(default=False)
    # Lower runs first; the first matching rule wins.
    position = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.field} {self.kind} {self.pattern!r} → {self.category_id}"


class TriagePolicy(models.Model):
    """Settings admins change on the taxonomy page; one row (pk 1), made on first save.

    ``target_precision``: a suggestion needs a human unless the model is confident
    enough to be right this share of the time (the thresholds are picked on each new
    model's held-out tickets). NULL: the deployment's default, ASSIST_TARGET_PRECISION.
    """

    target_precision = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(target_precision__isnull=True)
                | (Q(target_precision__gte=0.5) & Q(target_precision__lte=0.999)),
                name="policy_target_precision_range",
            ),
        ]

    def __str__(self) -> str:
        return f"target precision {self.target_precision}"


class TaxonomyChange(models.Model):
    """Every change to the taxonomy, rules, thresholds, roles and the admins' settings
    (target precision, nightly retrain time): who, when, before, after."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        EDIT = "edit", "Edited"
        RETIRE = "retire", "Retired"
        RESTORE = "restore", "Restored"
        MERGE = "merge", "Merged"
        SPLIT = "split", "Split"
        RELABEL = "relabel", "Relabelled after a split"
        THRESHOLD = "threshold", "Auto-triage threshold"
        RULE_CREATE = "rule_create", "Rule created"
        RULE_EDIT = "rule_edit", "Rule edited"
        RULE_DELETE = "rule_delete", "Rule deleted"
        QUEUE_CREATE = "queue_create", "Queue created"
        QUEUE_EDIT = "queue_edit", "Queue renamed"
        QUEUE_DELETE = "queue_delete", "Queue deleted"
        ROLE = "role", "Role changed"
        USER = "user", "User account"
        TOKEN = "token", "API token"
        PRECISION = "precision", "Target precision"
        SCHEDULE = "schedule", "Nightly retrain time"

    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept when the account is deleted later: the history must still say who.
    actor_name = models.CharField(max_length=150, blank=True)
    category = models.ForeignKey("triage.Category", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.ForeignKey("triage.Category", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    summary = models.CharField(max_length=500)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    # A change that alters training labels asks for a retrain; if one was already
    # running, `retrain_pending` stays set until housekeeping queues it.
    retrain_run = models.ForeignKey(
        "triage.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retrain_pending = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_users", "Can give users their roles")]
        indexes = [
            # The history on the taxonomy page, newest first.
            models.Index(fields=["-created_at"], name="taxchange_created"),
            # Housekeeping looks for changes still waiting for a retrain.
            models.Index(
                fields=["retrain_pending"], condition=Q(retrain_pending=True), name="taxchange_retrain_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name}: {self.summary}"


class LabelChange(models.Model):
    """The old label of a ticket or decision a merge or split relabelled."""

    class Field(models.TextChoices):
        TICKET = "ticket.category", "Ticket category"
        CHOSEN = "decision.chosen", "Decision: chosen"
        SUGGESTED = "decision.suggested", "Decision: suggested"

    change = models.ForeignKey(TaxonomyChange, on_delete=models.PROTECT, related_name="label_changes")
    ticket = models.ForeignKey("triage.Ticket", on_delete=models.PROTECT, related_name="+")
    decision = models.ForeignKey("triage.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    field = models.CharField(max_length=24, choices=Field.choices)
    old_category = models.ForeignKey("triage.Category", on_delete=models.PROTECT, related_name="+")
    new_category = models.ForeignKey("triage.Category", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # "What was this ticket labelled before?"
            models.Index(fields=["ticket"], name="labelchange_ticket"),
        ]

    def __str__(self) -> str:
        return f"{self.field} of ticket {self.ticket_id}: {self.old_category_id} → {self.new_category_id}"


class RelabelPermit(models.Model):
    """The sanctioned way past the append-only trigger on decisions.

    A relabel inserts a permit (from → to) and deletes it in the same transaction;
    the trigger lets an UPDATE through only when it changes `chosen`/`suggested`
    along a permit it can see and touches no other column. Other transactions
    never see an uncommitted permit.
    """

    from_category = models.ForeignKey("triage.Category", on_delete=models.CASCADE, related_name="+")
    to_category = models.ForeignKey("triage.Category", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"permit {self.from_category_id} → {self.to_category_id}"


class Split(models.Model):
    """Category A split into B and C: A's confirmed tickets wait in a relabel list."""

    source = models.ForeignKey("triage.Category", on_delete=models.PROTECT, related_name="splits")
    targets = models.ManyToManyField("triage.Category", related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"split of {self.source_id} #{self.pk}"


class SplitItem(models.Model):
    """One ticket of a split's relabel list, with the guess shown in the preview."""

    split = models.ForeignKey(Split, on_delete=models.CASCADE, related_name="items")
    ticket = models.ForeignKey("triage.Ticket", on_delete=models.CASCADE, related_name="+")
    guess = models.ForeignKey("triage.Category", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    guess_confidence = models.FloatField(default=0.0)
    chosen = models.ForeignKey("triage.Category", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["split", "ticket"], name="split_item_unique_ticket")]

    def __str__(self) -> str:
        return f"ticket {self.ticket_id} in split {self.split_id}"
