"""The data model: the taxonomy, tickets, the model's predictions, agents' decisions
and the registry of trained model versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower


class Category(models.Model):
    """One entry of the taxonomy. Retired categories keep their history."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Taxonomy (triage/taxonomy): colour, second level, queue, urgency, auto-triage.
    color = models.CharField(max_length=7, default="#5d6677")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    queue = models.ForeignKey(
        "triage.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="categories"
    )
    urgent = models.BooleanField(default=False)
    # Above this confidence the model's suggestion triages the ticket by itself; NULL: never.
    auto_threshold = models.FloatField(null=True, blank=True)
    # Not suggested until it has this many confirmed tickets (new categories from the taxonomy page).
    min_examples = models.PositiveIntegerField(default=0)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Optimistic locking: every taxonomy edit says which version it started from.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        permissions = [("manage_taxonomy", "Can edit the taxonomy, routing rules and thresholds")]
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_threshold__isnull=True) | (Q(auto_threshold__gte=0.0) & Q(auto_threshold__lte=1.0)),
                name="category_auto_threshold_0_1",
            ),
            # "Crypto" and "CRYPTO" are one name to an agent: two admins creating them at
            # the same instant must not both succeed (the services' iexact check can't
            # see a row that is not committed yet).
            models.UniqueConstraint(Lower("name"), name="category_name_case_insensitive_unique"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The display name; a subcategory shows its parent first (Cards, then Lost or stolen)."""
        return f"{self.parent.name} \u203a {self.name}" if self.parent_id and self.parent else self.name


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    WEB = "web", "Web form"
    PHONE = "phone", "Phone"
    SOCIAL = "social", "Social media"
    API = "api", "API"


class Ticket(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "Untriaged"
        TRIAGED = "triaged", "Triaged"

    class LabelSource(models.TextChoices):
        NONE = "", "Unconfirmed"
        AGENT = "agent", "Agent decision"
        IMPORT = "import", "Imported history"
        AUTO = "auto", "Auto-triaged"

    source = models.CharField(max_length=64, default="api")
    # NULL, not "", when absent: NULLs never clash in the unique constraint below.
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.API)
    customer_ref = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    # The human-confirmed category: set by an agent's decision or by imported history.
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets")
    label_source = models.CharField(max_length=16, choices=LabelSource.choices, blank=True, default="")
    triaged_at = models.DateTimeField(null=True, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # ISO 639-1 code detected at ingest ("en", "es", ...); "" when unsure.
    language = models.CharField(max_length=8, blank=True, default="")
    # The blind slice: shown to agents without a suggestion, so their choice is not
    # anchored on the model's. These decisions give the unbiased accuracy estimate.
    blind = models.BooleanField(default=False)
    # Routing, set at ingest from the rule or the suggested category (triage/taxonomy).
    urgent = models.BooleanField(default=False)
    queue = models.ForeignKey("triage.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            # Idempotent ingest: one ticket per (source, external id). NULL ids never clash.
            models.UniqueConstraint(fields=["source", "external_id"], name="ticket_unique_external_id"),
            models.CheckConstraint(
                condition=Q(status="new") | Q(category__isnull=False), name="ticket_triaged_has_category"
            ),
        ]
        indexes = [
            # The agents' queue: untriaged tickets, newest first.
            models.Index(fields=["status", "-received_at"], name="ticket_status_received"),
            # Training data: confirmed tickets in time order.
            models.Index(fields=["category", "received_at"], name="ticket_category_received"),
            # The queue page's default and "oldest first" orders over the waiting tickets
            # alone (selectors.queue_tickets); the search's trigram indexes are in
            # migration 0022 (PostgreSQL only).
            models.Index(
                F("urgent").desc(),
                F("received_at").desc(),
                F("id").desc(),
                condition=Q(status="new"),
                name="ticket_waiting_order",
            ),
        ]
        permissions = [
            ("triage_ticket", "Can triage tickets in the queue"),
            ("ingest_ticket", "Can submit tickets through the API"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject or self.body[:60]}"

    @property
    def live_prediction(self) -> Prediction | None:
        """The suggestion shown to agents (prefetched by `selectors.with_live_prediction`)."""
        cached = getattr(self, "_live_predictions", None)
        if cached is not None:
            return cached[0] if cached else None
        return self.predictions.filter(is_live=True).select_related("suggested", "model_version").first()

    @property
    def shown_prediction(self) -> Prediction | None:
        """What agents see: the live suggestion, or nothing for the blind slice."""
        return None if self.blind else self.live_prediction


def ticket_subject_limit() -> int:
    """The longest subject a ticket may have: ASSIST_TICKET_SUBJECT_MAX_CHARS, never more
    than the column holds (500). The API and imports both check it."""
    column = Ticket._meta.get_field("subject").max_length or settings.TICKET_SUBJECT_MAX_CHARS
    return min(settings.TICKET_SUBJECT_MAX_CHARS, column)


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def live(self) -> ModelVersion | None:
        """The version that suggests for incoming tickets, or None (a constraint allows one)."""
        return self.filter(status=ModelVersion.Status.ACTIVE).first()


class ModelVersion(models.Model):
    """A trained classifier: its artifact, its lineage and its scores (read them with
    `triage.learning.scores.version_scores`)."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        REJECTED = "rejected", "Rejected"

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    # Set while the version predicts every incoming ticket beside the live one, unseen by agents.
    shadow_since = models.DateTimeField(null=True, blank=True)
    artifact = models.FileField(upload_to="models/", max_length=300)
    sha256 = models.CharField(max_length=64)
    hmac = models.CharField(max_length=64)
    classes = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    training_rows = models.PositiveIntegerField(default=0)
    holdout_rows = models.PositiveIntegerField(default=0)
    data_from = models.DateTimeField(null=True, blank=True)
    data_to = models.DateTimeField(null=True, blank=True)
    data_hash = models.CharField(max_length=64, blank=True)
    code_version = models.CharField(max_length=64, blank=True)
    environment = models.JSONField(default=dict)
    train_seconds = models.FloatField(default=0.0)
    peak_memory_mb = models.FloatField(default=0.0)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        permissions = [("manage_models", "Can retrain, tune, shadow, promote and roll back models")]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_model"),
            models.CheckConstraint(
                condition=Q(shadow_since__isnull=True) | ~Q(status="active"), name="live_model_not_in_shadow"
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})"


class ModelPromotion(models.Model):
    """Who made which version live, when, and why: promotions, rollbacks and the gate's own."""

    class Action(models.TextChoices):
        GATE = "gate", "Promoted by the gate"
        PROMOTE = "promote", "Promoted by hand"
        ROLLBACK = "rollback", "Rolled back"

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotions")
    previous = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        previous = f"v{self.previous.version}" if self.previous else "nothing"
        return f"{self.action}: v{self.version.version} replaced {previous}"


class TrainingRun(models.Model):
    """One training or tuning job. A queued or running training row is the lock: the
    database allows one at a time, and a crash leaves a row the reaper marks failed."""

    class Kind(models.TextChoices):
        TRAIN = "train", "Training"
        TUNE = "tune", "Hyperparameter search"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        DECISIONS = "decisions", "New decisions"
        MANUAL = "manual", "By hand"
        TAXONOMY = "taxonomy", "Taxonomy change"
        DRIFT = "drift", "Acceptance drop"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TRAIN)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    params = models.JSONField(default=dict)
    # Tuning: every combination's cross-validated score. Training: the gate's verdict.
    results = models.JSONField(default=dict)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs"
    )
    # Decisions stored when the run was requested: the "N new decisions" trigger counts from here.
    decisions_seen = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # "host:pid" of the worker process that claimed the run: tells a redelivery
    # whether that process is gone (crashed) or still at work.
    worker = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The lock: one queued-or-running job of each kind at a time.
            models.UniqueConstraint(
                fields=["kind"], condition=Q(status__in=["queued", "running"]), name="one_open_run_per_kind"
            ),
            models.CheckConstraint(condition=Q(progress__gte=0.0) & Q(progress__lte=1.0), name="run_progress_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}


class Prediction(models.Model):
    """What a model suggested for a ticket. The live one is shown to agents."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="predictions")
    # NULL when a routing rule made the suggestion (then `rule_name` says which).
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="predictions"
    )
    rule = models.ForeignKey(
        "triage.RoutingRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    rule_name = models.CharField(max_length=120, blank=True)
    # The ticket's text the rule's pattern matched (cut to its first 200 characters).
    rule_matched = models.CharField(max_length=200, blank=True, default="")
    suggested = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    confidence = models.FloatField()
    # [{"category": slug, "confidence": p}, ...] best first, excluding `suggested`;
    # under a rule, the model's own ranking of the other categories.
    alternatives = models.JSONField(default=list)
    # [{"term": word, "weight": w}, ...] the words that weighed most for `suggested`
    # (under a rule, the model's when it chose the rule's category too).
    reasons = models.JSONField(default=list)

    class AbstainReason(models.TextChoices):
        # Checked in this order (triage.ml.abstention.abstain_reason): on a ticket unlike
        # the training data, even a high confidence means little.
        UNFAMILIAR = "unfamiliar", "unlike what the model learned from: words it has not seen"
        NOVEL = "novel", "unlike every ticket the model learned from"
        UNSURE = "unsure", "the model is not sure enough of any category"
        # Not the model's doing: the category it suggested was closed while the ticket
        # waited, and this is its next choice (triage.taxonomy.waiting).
        RETIRED = "retired", "the model's choice was retired; this is its next one"

    # The model abstained: not confident enough, or the ticket is unlike its training data.
    needs_human = models.BooleanField(default=False)
    # Why it abstained ("" when it did not, and for predictions stored before the reason was).
    abstain_reason = models.CharField(max_length=16, choices=AbstainReason.choices, blank=True, default="")
    is_live = models.BooleanField(default=True)
    # Answered by the serving process's cache of repeated messages, not by the model:
    # what the models page's hit rate counts, over every process.
    cached = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The drift report reads a version's incoming suggestions by week.
        indexes = [
            models.Index(fields=["model_version", "created_at"], name="prediction_version_created"),
            # The queue page's "suggested category" filter and "select all like this"
            # (a category at a confidence or more): live suggestions only.
            models.Index(
                fields=["suggested", "confidence"], condition=Q(is_live=True), name="prediction_live_suggested"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["ticket"], condition=Q(is_live=True), name="one_live_prediction"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0.0) & Q(confidence__lte=1.0), name="prediction_confidence_0_1"
            ),
            models.CheckConstraint(
                condition=Q(model_version__isnull=False) | ~Q(rule_name=""), name="prediction_model_or_rule"
            ),
            models.CheckConstraint(
                condition=Q(abstain_reason="") | Q(needs_human=True), name="prediction_abstain_reason_needs_human"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} → {self.suggested_id} ({self.confidence:.2f})"

    @property
    def source_label(self) -> str:
        """ "rule: <name>" or "model v<N>": who made this suggestion."""
        if self.rule_name:
            return f"rule: {self.rule_name}"
        return f"model v{self.model_version.version}" if self.model_version else "model"


class Decision(models.Model):
    """An agent's accept or correction. Append-only: a database trigger refuses updates."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="decisions")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions")
    suggested = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    chosen = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    accepted = models.BooleanField()
    # False when another agent had already triaged the ticket: recorded, not applied.
    applied = models.BooleanField(default=True)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    seconds_taken = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Reports and retrain triggers scan decisions by time.
            models.Index(fields=["created_at"], name="decision_created"),
        ]
        permissions = [
            ("view_reports", "Can read the supervisor reports"),
            ("review_decision", "Can review accepted suggestions in the quality-check list"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(seconds_taken__isnull=True) | Q(seconds_taken__gte=0), name="decision_seconds_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        verb = "accepted" if self.accepted else "changed to"
        return f"{self.agent_id} {verb} {self.chosen_id} on ticket {self.ticket_id}"


class DecisionUndo(models.Model):
    """An agent taking back their own triage (`services.decision_undo`): the decision
    stays as it was stored, and this row says it was undone, by whom and when.
    Append-only like decisions: a database trigger refuses updates. An undone decision
    is left out of training, retrain counts and the reports."""

    decision = models.OneToOneField(Decision, on_delete=models.PROTECT, related_name="undo")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"decision {self.decision_id} undone by {self.agent_id}"


# The taxonomy's own tables (queues, routing rules, the change history, splits).
# The reports' tables (decision facts, training references, quality checks).
# The integrations' tables (mailboxes, helpdesks, conversations, the outbox).
# API tokens (only their digests).
from triage.accounts.models import ApiToken  # noqa: E402, F401
from triage.integrations.models import (  # noqa: E402, F401
    Delivery,
    DeliveryAttempt,
    HelpdeskIntegration,
    Mailbox,
    MailSkip,
    OutboxEvent,
    SourceLink,
    TicketMessage,
    WebhookEndpoint,
)
from triage.reports.models import DecisionFact, ModelReference, QualityCheck  # noqa: E402, F401
from triage.taxonomy.models import (  # noqa: E402, F401
    LabelChange,
    Queue,
    RelabelPermit,
    RoutingRule,
    Split,
    SplitItem,
    TaxonomyChange,
    TriagePolicy,
)
