"""Input validation and output shapes. No business logic here: views call services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from triage.models import Category, Channel, Decision, Prediction, Ticket


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly stringifying them.
    DRF's CharField already refuses NUL characters."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TicketIn(serializers.Serializer):
    source = StrictCharField(max_length=64, required=False, default="api")  # type: ignore[assignment]
    external_id = StrictCharField(max_length=200, required=False, allow_null=True, allow_blank=True, default=None)
    subject = StrictCharField(required=False, allow_blank=True, default="")
    body = StrictCharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, default=Channel.API)
    customer_ref = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    received_at = serializers.DateTimeField(required=False, default=None)

    def validate_subject(self, value: str) -> str:
        limit = settings.TICKET_SUBJECT_MAX_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(f"Ensure this field has no more than {limit} characters.")
        return value

    def validate_body(self, value: str) -> str:
        limit = settings.TICKET_BODY_MAX_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(f"Ensure this field has no more than {limit} characters.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["subject"].strip() and not attrs["body"].strip():
            message = "A ticket needs a subject or a body."
            raise serializers.ValidationError({"subject": [message], "body": [message]})
        return attrs


class TicketFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all(), required=False
    )


class TriageIn(serializers.Serializer):
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all()
    )
    seconds_taken = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=7 * 24 * 3600)

    def validate_category(self, value: Category) -> Category:
        if not value.is_active:
            raise serializers.ValidationError(f"Category '{value.slug}' is retired.")
        return value


class CategoryOut(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["slug", "name", "description", "is_active"]


class SuggestionOut(serializers.ModelSerializer):
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        source="suggested", slug_field="slug", read_only=True
    )
    category_name = serializers.CharField(source="suggested.name", read_only=True)
    model_version = serializers.IntegerField(source="model_version.version", read_only=True)

    class Meta:
        model = Prediction
        fields = ["category", "category_name", "confidence", "alternatives", "reasons", "model_version"]


class TicketOut(serializers.ModelSerializer):
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    suggestion = SuggestionOut(source="live_prediction", read_only=True, allow_null=True)
    triaged_by = serializers.CharField(source="triaged_by.username", read_only=True, default=None)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "source",
            "external_id",
            "subject",
            "body",
            "channel",
            "customer_ref",
            "received_at",
            "created_at",
            "status",
            "category",
            "triaged_by",
            "triaged_at",
            "suggestion",
        ]


class DecisionOut(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.username", read_only=True)
    suggested: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    chosen: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_version = serializers.IntegerField(source="model_version.version", read_only=True, default=None)

    class Meta:
        model = Decision
        fields = [
            "id",
            "ticket",
            "agent",
            "suggested",
            "chosen",
            "accepted",
            "applied",
            "model_version",
            "seconds_taken",
            "created_at",
        ]


class TriageOut(serializers.Serializer):
    applied = serializers.BooleanField()
    detail = serializers.CharField()
    decision = DecisionOut()
    ticket = TicketOut()
