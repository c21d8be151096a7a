from django.urls import path, register_converter

from triage.api import views


class AnySegment:
    """Any one path segment: the view reads the id itself, so `/api/tickets/abc/` is a 400
    naming `ticket_id` (an `<int:>` converter would make it the HTML 404 of no route)."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(AnySegment, "segment")

urlpatterns = [
    path("tickets/", views.TicketListCreateApi.as_view(), name="api-tickets"),
    path("tickets/bulk-triage/", views.BulkTriageApi.as_view(), name="api-tickets-bulk-triage"),
    path("tickets/<segment:ticket_id>/", views.TicketDetailApi.as_view(), name="api-ticket"),
    path("tickets/<segment:ticket_id>/triage/", views.TicketTriageApi.as_view(), name="api-ticket-triage"),
    path("tickets/<segment:ticket_id>/undo/", views.TicketUndoApi.as_view(), name="api-ticket-undo"),
    path("categories/", views.CategoryListApi.as_view(), name="api-categories"),
]
