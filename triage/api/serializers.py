"""Input validation and output shapes. No business logic here: views call services."""

from __future__ import annotations

import copy
import math
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from triage.models import Category, Channel, Prediction, Ticket, ticket_subject_limit
from triage.selectors import AGES, LANGUAGES
from triage.services import UndoRefusedError


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly stringifying them.
    DRF's CharField already refuses NUL characters."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A FloatField that takes JSON numbers only: DRF's reads `true` as 1.0 and the
    strings "4.2", "nan" and "-Infinity" as numbers."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class ReceivedAtField(serializers.DateTimeField):
    """When the customer wrote: not before 2000, not in the future beyond a clock's skew.

    The queue lists the newest first, so a ticket dated in 9999 would head it for
    ever. DRF lets a naive datetime near year 1 overflow into a 500 when TIME_ZONE is
    east of UTC; that is its out-of-range error here.
    """

    EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
    SKEW = timedelta(minutes=5)
    default_error_messages = {
        "too_early": "A ticket can't be received before 2000-01-01.",
        "in_future": "A ticket can't be received in the future (more than 5 minutes from now).",
    }

    def to_internal_value(self, value: Any) -> datetime:
        try:
            when = super().to_internal_value(value)
        except OverflowError:
            self.fail("overflow")
        if when < self.EARLIEST:
            self.fail("too_early")
        if when > timezone.now() + self.SKEW:
            self.fail("in_future")
        return when


class CopiedFieldsSerializer(serializers.Serializer):
    """A Serializer whose fields are shallow copies of the declared ones.

    DRF deep-copies every declared field for each serializer, re-running each
    field's constructor, most of the time it takes to validate a ticket on the
    busiest endpoint (`bench/ingest.py`, docs/ingest.md). A declared field holds no per-request state until
    ``bind()``, which sets its attributes on the copy, and DRF already treats
    validators as immutable when it clones; the list of them is copied anyway, so
    a validator added to one serializer's field can't reach the next one.
    """

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = {}
        for name, declared in self._declared_fields.items():
            field = copy.copy(declared)
            field.validators = list(declared.validators)
            fields[name] = field
        return fields


class TicketIn(CopiedFieldsSerializer):
    source = StrictCharField(max_length=64, required=False, default="api")  # type: ignore[assignment]
    external_id = StrictCharField(max_length=200, required=False, allow_null=True, allow_blank=True, default=None)
    subject = StrictCharField(required=False, allow_blank=True, default="")
    body = StrictCharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, default=Channel.API)
    customer_ref = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    received_at = ReceivedAtField(required=False, default=None)

    # Limits count the text as stored: composed (NFC), which some characters
    # lengthen ("\ufb2c" becomes three), so a subject at the limit before could
    # overflow the column after, a 500.
    def validate_subject(self, value: str) -> str:
        return _within(unicodedata.normalize("NFC", value), ticket_subject_limit())

    def validate_body(self, value: str) -> str:
        return _within(unicodedata.normalize("NFC", value), settings.TICKET_BODY_MAX_CHARS)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["subject"].strip() and not attrs["body"].strip():
            message = "A ticket needs a subject or a body."
            raise serializers.ValidationError({"subject": [message], "body": [message]})
        return attrs


def _within(value: str, limit: int) -> str:
    if len(value) > limit:
        raise serializers.ValidationError(f"Ensure this field has no more than {limit} characters.")
    return value


class TicketFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all(), required=False, help_text="A category's slug."
    )


class QueryBooleanField(serializers.BooleanField):
    """`true` or `false` in a query string, nothing else (DRF's also reads yes, on, 1 and an empty value)."""

    TRUE_VALUES = {"true"}
    FALSE_VALUES = {"false"}
    NULL_VALUES: set[str | None] = set()
    default_empty_html = serializers.empty  # absent means "not asked", not False


class CategoryFilter(serializers.Serializer):
    active = QueryBooleanField(required=False, help_text="true: active categories only; false: closed ones.")


class TriageIn(serializers.Serializer):
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all()
    )
    seconds_taken = StrictFloatField(required=False, allow_null=True, min_value=0, max_value=7 * 24 * 3600)

    def validate_seconds_taken(self, value: float | None) -> float | None:
        # DRF's FloatField takes the string "nan", and NaN passes min_value and max_value.
        if value is not None and not math.isfinite(value):
            raise serializers.ValidationError("A finite number of seconds is required.")
        return value

    def validate_category(self, value: Category) -> Category:
        if not value.is_active:
            from triage.services import CategoryClosedError

            raise serializers.ValidationError(str(CategoryClosedError(value)))
        return value


# Output shapes are plain Serializers with every field declared: cheaper per
# request than ModelSerializer's introspection, and the contract is visible here.


class CategoryOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    description = serializers.CharField()
    is_active = serializers.BooleanField()


class ChoiceOut(serializers.Serializer):
    category = serializers.CharField()
    confidence = serializers.FloatField()


class ReasonOut(serializers.Serializer):
    term = serializers.CharField()
    weight = serializers.FloatField()


class SuggestionOut(serializers.Serializer):
    category = serializers.CharField(source="suggested.slug")
    category_name = serializers.CharField(source="suggested.name")
    confidence = serializers.FloatField()
    alternatives = ChoiceOut(many=True)
    reasons = ReasonOut(many=True)
    # NULL when a routing rule made the suggestion; `source` then says "rule: <name>".
    model_version = serializers.IntegerField(source="model_version.version", default=None, allow_null=True)
    source = serializers.CharField(source="source_label")  # type: ignore[assignment]
    # The routing rule that made the suggestion and the ticket's text it matched
    # (null without a rule); the alternatives are then the model's other choices.
    rule = serializers.SerializerMethodField()
    rule_matched = serializers.SerializerMethodField()
    needs_human = serializers.BooleanField()
    # Why it needs a human: "unfamiliar" (words the model has not seen), "novel" (unlike
    # every training ticket; models with the sentence encoder), "unsure" (low
    # confidence) or "retired" (the suggested category was retired, split or merged
    # away while the ticket waited; this is the next choice among the active ones, a
    # split's new categories included); "" when it doesn't, or for suggestions stored
    # before this field.
    needs_human_reason = serializers.ChoiceField(
        source="abstain_reason",
        choices=[("", ""), *Prediction.AbstainReason.choices],
        help_text="Why it needs a human: "
        + "; ".join(f"`{v}`: {label}" for v, label in Prediction.AbstainReason.choices)
        + "; empty when it does not.",
    )

    def get_rule(self, p: Prediction) -> str | None:
        return p.rule_name or None

    def get_rule_matched(self, p: Prediction) -> str | None:
        return p.rule_matched if p.rule_name else None


class TicketOut(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]
    external_id = serializers.CharField(allow_null=True)
    subject = serializers.CharField()
    body = serializers.CharField()
    channel = serializers.CharField()
    customer_ref = serializers.CharField()
    received_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    status = serializers.CharField()
    category = serializers.CharField(source="category.slug", default=None, allow_null=True)
    triaged_by = serializers.CharField(source="triaged_by.username", default=None, allow_null=True)
    triaged_at = serializers.DateTimeField(allow_null=True)
    language = serializers.CharField()
    # Blind-slice tickets carry no suggestion, so agents decide them unanchored.
    blind = serializers.BooleanField()
    urgent = serializers.BooleanField()
    suggestion = SuggestionOut(source="shown_prediction", allow_null=True)

    def to_representation(self, instance: Ticket) -> dict[str, Any]:
        """The fields above, written out directly: every ingest answers with one, and
        going through the fields costs a deep copy of all 18 (and the nested ones) per
        call, about a third of a millisecond. `fields_representation` is the reference;
        tests/test_api_read.py checks that the two agree field for field."""
        t = instance
        p = t.shown_prediction
        return {
            "id": t.pk,
            "source": t.source,
            "external_id": t.external_id,
            "subject": t.subject,
            "body": t.body,
            "channel": t.channel,
            "customer_ref": t.customer_ref,
            "received_at": _datetime(t.received_at),
            "created_at": _datetime(t.created_at),
            "status": t.status,
            "category": t.category.slug if t.category_id and t.category else None,
            "triaged_by": t.triaged_by.username if t.triaged_by_id and t.triaged_by else None,
            "triaged_at": _datetime(t.triaged_at),
            "language": t.language,
            "blind": t.blind,
            "urgent": t.urgent,
            "suggestion": None
            if p is None
            else {
                "category": p.suggested.slug,
                "category_name": p.suggested.name,
                "confidence": float(p.confidence),
                "alternatives": [
                    {"category": str(a["category"]), "confidence": float(a["confidence"])} for a in p.alternatives
                ],
                "reasons": [{"term": str(r["term"]), "weight": float(r["weight"])} for r in p.reasons],
                "model_version": p.model_version.version if p.model_version_id and p.model_version else None,
                "source": p.source_label,
                "rule": p.rule_name or None,
                "rule_matched": p.rule_matched if p.rule_name else None,
                "needs_human": p.needs_human,
                "needs_human_reason": p.abstain_reason,
            },
        }

    def fields_representation(self, instance: Ticket) -> dict[str, Any]:
        """DRF's own field-by-field rendering of the declared fields."""
        return dict(super().to_representation(instance))


_DATETIME = serializers.DateTimeField()


def _datetime(value: Any) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


class DecisionOut(serializers.Serializer):
    id = serializers.IntegerField()
    ticket = serializers.IntegerField(source="ticket_id")
    agent = serializers.CharField(source="agent.username")
    suggested = serializers.CharField(source="suggested.slug", default=None, allow_null=True)
    chosen = serializers.CharField(source="chosen.slug")
    accepted = serializers.BooleanField()
    applied = serializers.BooleanField()
    model_version = serializers.IntegerField(source="model_version.version", default=None, allow_null=True)
    seconds_taken = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()


class TicketPageOut(serializers.Serializer):
    """A page of tickets: DRF's page-number envelope."""

    count = serializers.IntegerField(help_text="Tickets matching the filters, on every page.")
    next = serializers.URLField(allow_null=True, help_text="The next page's URL, or null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page's URL, or null on the first.")
    results = TicketOut(many=True)


class TriageOut(serializers.Serializer):
    applied = serializers.BooleanField()
    detail = serializers.CharField()
    decision = DecisionOut()
    ticket = TicketOut()
    undo_seconds = serializers.FloatField(
        help_text="How long this agent may still undo the triage (`POST /api/tickets/{id}/undo/`); 0 when not applied."
    )


class UndoOut(serializers.Serializer):
    detail = serializers.CharField()
    decision = DecisionOut(help_text="The decision taken back: kept, marked undone, never learned from.")
    undone_by = serializers.CharField(source="undo.agent.username")
    undone_at = serializers.DateTimeField(source="undo.created_at")
    ticket = TicketOut(help_text="The ticket, waiting in the queue again.")


class UndoRefusedOut(serializers.Serializer):
    detail = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=list(UndoRefusedError.REASONS.items()), help_text="Why the undo was refused."
    )


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only (DRF's also reads 0, 1, "yes" and "on")."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """JSON integers only (DRF's also reads "5", 5.0 and true)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def errors_flat(errors: Any) -> dict[str, list[str]]:
    """A serializer's errors as the API documents a 400: each top-level field with a
    list of messages; a nested field's or a list item's messages name it first
    ("min_confidence: ...", "3: ...")."""

    def messages(value: Any, prefix: str = "") -> list[str]:
        if isinstance(value, dict):
            return [m for key, inner in value.items() for m in messages(inner, f"{prefix}{key}: ")]
        if isinstance(value, list):
            return [m for inner in value for m in messages(inner, prefix)]
        return [f"{prefix}{value}"]

    return {str(field): messages(value) for field, value in errors.items()}


class BulkLikeIn(serializers.Serializer):
    """ "Every waiting ticket like this one": the queue page's filters (as its URL names
    them), narrowed to one suggested category at a confidence or more."""

    suggested: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all(), help_text="The suggested category's slug."
    )
    min_confidence = StrictFloatField(min_value=0, max_value=1, help_text="The lowest confidence, from 0 to 1.")
    q = StrictCharField(required=False, allow_blank=True, max_length=200, help_text="Search in subject and body.")
    queue = StrictCharField(required=False, allow_blank=True, max_length=50, help_text="A queue's slug.")
    channel = serializers.ChoiceField(choices=[("", ""), *Channel.choices], required=False)
    language = serializers.ChoiceField(choices=["", *LANGUAGES], required=False)
    urgent = StrictBooleanField(required=False, default=False)
    age = serializers.ChoiceField(choices=["", *AGES], required=False)

    def validate_min_confidence(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError("A number from 0 to 1 is required.")
        return value

    def validate_queue(self, value: str) -> str:
        from triage.models import Queue

        if value and not Queue.objects.filter(slug=value).exists():
            raise serializers.ValidationError("No such queue.")
        return value


class BulkTriageIn(serializers.Serializer):
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all()
    )
    tickets = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        min_length=1,
        max_length=settings.BULK_TRIAGE_MAX_TICKETS,
        help_text=f"The tickets' ids (at most {settings.BULK_TRIAGE_MAX_TICKETS:,}).",
    )
    like = BulkLikeIn(required=False)
    dry_run = StrictBooleanField(
        required=False, default=False, help_text="Only count the tickets it would take; nothing is stored."
    )

    def validate_category(self, value: Category) -> Category:
        return TriageIn().validate_category(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("tickets" in attrs) == ("like" in attrs):
            raise serializers.ValidationError({"tickets": ["Give either `tickets` or `like`, not both or neither."]})
        return attrs


class BulkTriageOut(serializers.Serializer):
    matching = serializers.IntegerField(help_text="Tickets the request named or matched.")
    triaged = serializers.ListField(child=serializers.IntegerField(), help_text="Triaged now, each with a decision.")
    taken = serializers.ListField(
        child=serializers.IntegerField(), help_text="Skipped: another agent triaged (or is triaging) them first."
    )
    missing = serializers.ListField(child=serializers.IntegerField(), help_text="Skipped: no such ticket.")
    detail = serializers.CharField()
