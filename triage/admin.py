"""The Django admin: browsing only for the product's tables.

Every change to them goes through the product's pages and services, which keep the
history (taxonomy changes, promotions, decisions), check versions and reset the
caches of every process. An edit here would skip all of that, so these are read-only.
(The retraining schedule, django-celery-beat's tables, stays editable here.)
"""

from typing import Any

from django.contrib import admin

from triage.models import (
    Category,
    Decision,
    DecisionUndo,
    ModelVersion,
    Prediction,
    Queue,
    RoutingRule,
    TaxonomyChange,
    Ticket,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Category)
class CategoryAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "queue", "urgent", "is_active"]


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = ["id", "subject", "status", "category", "channel", "received_at"]
    list_filter = ["status", "channel", "category"]
    search_fields = ["subject", "body", "external_id", "customer_ref"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "ticket", "agent", "suggested", "chosen", "accepted", "applied", "created_at"]
    list_filter = ["accepted", "applied"]


@admin.register(DecisionUndo)
class DecisionUndoAdmin(ReadOnlyAdmin):
    list_display = ["id", "decision", "agent", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "status", "training_rows", "created_at", "activated_at"]


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["id", "ticket", "suggested", "confidence", "model_version", "rule_name", "is_live"]


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "position"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(ReadOnlyAdmin):
    list_display = ["name", "field", "kind", "pattern", "category", "urgent", "position", "is_active"]


@admin.register(TaxonomyChange)
class TaxonomyChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "summary"]
    list_filter = ["action"]
