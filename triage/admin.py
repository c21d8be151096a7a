from django.contrib import admin

from triage.models import Category, Decision, ModelVersion, Prediction, Queue, RoutingRule, TaxonomyChange, Ticket


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "status", "category", "channel", "received_at"]
    list_filter = ["status", "channel", "category"]
    search_fields = ["subject", "body", "external_id", "customer_ref"]
    raw_id_fields = ["triaged_by"]


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are append-only history."""

    list_display = ["id", "ticket", "agent", "suggested", "chosen", "accepted", "applied", "created_at"]
    list_filter = ["accepted", "applied"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "status", "training_rows", "created_at", "activated_at"]
    readonly_fields = ["sha256", "hmac", "artifact"]


admin.site.register(Prediction)


# The taxonomy's tables; the pages at /taxonomy/ are the way to change them (with
# history and optimistic locking). Here: browsing, and the change history read-only.
admin.site.register(Queue)


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "field", "kind", "pattern", "category", "urgent", "position", "is_active"]


@admin.register(TaxonomyChange)
class TaxonomyChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_name", "action", "summary"]
    list_filter = ["action"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
