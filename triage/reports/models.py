"""Models of the reports: the decision-fact table, the live model's training reference
and the quality-check sample. Imported at the end of triage/models.py."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# Confidence is stored as a whole percent bucket 0..100 (floor(confidence * 100)):
# the reliability diagram and the coverage curve group by it in the database.
CONFIDENCE_BUCKETS = 100


class DecisionFact(models.Model):
    """One row per ticket's first (applied) decision, denormalised for the reports.

    Written in the same transaction as the decision (`reports.services.decision_fact_record`),
    so every report is one GROUP BY over a narrow indexed table, never a join over
    tickets, predictions and decisions.
    """

    decision = models.OneToOneField("triage.Decision", on_delete=models.CASCADE, related_name="fact")
    ticket = models.OneToOneField("triage.Ticket", on_delete=models.CASCADE, related_name="fact")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(
        "triage.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    suggested = models.ForeignKey("triage.Category", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    chosen = models.ForeignKey("triage.Category", on_delete=models.PROTECT, related_name="+")
    accepted = models.BooleanField()
    # Shown without a suggestion: `accepted` then means the agent agreed unprompted.
    blind = models.BooleanField(default=False)
    confidence = models.FloatField(null=True, blank=True)
    # The model held its suggestion back ("needs a human"), and why (Prediction.AbstainReason;
    # "" for decisions made before the reason was recorded). `accepted` then tells
    # whether its held-back guess was right.
    needs_human = models.BooleanField(default=False)
    abstain_reason = models.CharField(max_length=16, blank=True, default="")
    confidence_bucket = models.PositiveSmallIntegerField(null=True, blank=True)
    language = models.CharField(max_length=8, blank=True, default="")
    # Share of the ticket's words absent from the live model's training vocabulary.
    unseen_share = models.FloatField(null=True, blank=True)
    seconds_taken = models.FloatField(null=True, blank=True)
    # Another agent (or a quality-check reviewer) later chose a different category.
    overridden = models.BooleanField(default=False)
    # The agent's first decision in this clock hour: counting these gives the hours an
    # agent worked (decisions per hour) without a COUNT(DISTINCT hour) over every row.
    opens_hour = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    day = models.DateField()
    # Monday of the ISO week: weekly series group by it without date functions.
    week = models.DateField()

    class Meta:
        indexes = [
            # Acceptance over time and the default date-range scan of every report.
            models.Index(fields=["day", "model_version"], name="fact_day_version"),
            # Confusion matrix and per-category quality, and the category filter.
            models.Index(fields=["suggested", "chosen", "day"], name="fact_suggested_chosen_day"),
            models.Index(fields=["chosen", "day"], name="fact_chosen_day"),
            # Drift: weekly mix and confidence histogram.
            models.Index(fields=["week", "suggested"], name="fact_week_suggested"),
            # Agents report (SQLite's medians) and the "first decision in this hour" lookup.
            models.Index(fields=["agent", "created_at"], name="fact_agent_created"),
            # Error analysis: most confident wrong answers, then the least sure ones.
            models.Index(fields=["accepted", "confidence"], name="fact_accepted_confidence"),
            models.Index(fields=["confidence"], name="fact_confidence"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence_bucket__isnull=True) | Q(confidence_bucket__lte=CONFIDENCE_BUCKETS),
                name="fact_confidence_bucket_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"fact of decision {self.decision_id} ({self.day})"


class ModelReference(models.Model):
    """What a model version was trained on, kept for drift: the class mix, the
    confidence histogram on a sample of its training tickets, and the vocabulary."""

    model_version = models.OneToOneField("triage.ModelVersion", on_delete=models.CASCADE, related_name="reference")
    # {slug: share of training tickets}
    class_mix = models.JSONField(default=dict)
    # Share of the sample in each of CONFIDENCE_HISTOGRAM_BINS equal-width bins.
    confidence_histogram = models.JSONField(default=list)
    vocabulary = models.JSONField(default=list)
    # The unseen-word share of the newest training tickets against the older ones'
    # vocabulary: what "normal" looks like for new text.
    unseen_share = models.FloatField(default=0.0)
    sample_rows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"training reference of model {self.model_version_id}"


class QualityCheck(models.Model):
    """An accepted suggestion drawn into the supervisors' review list (a random share)."""

    decision = models.OneToOneField("triage.Decision", on_delete=models.CASCADE, related_name="quality_check")
    ticket = models.ForeignKey("triage.Ticket", on_delete=models.CASCADE, related_name="quality_checks")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.ForeignKey("triage.Category", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The reviewer kept the accepted category.
    correct = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The review list (pending, oldest first) and the accuracy of accepted labels.
            models.Index(fields=["reviewed_at", "created_at"], name="qc_reviewed_created"),
        ]

    def __str__(self) -> str:
        state = "pending" if self.reviewed_at is None else ("correct" if self.correct else "corrected")
        return f"quality check of decision {self.decision_id} ({state})"
