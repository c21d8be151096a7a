from django.urls import path

from triage.api import views

urlpatterns = [
    path("tickets/", views.TicketListCreateApi.as_view(), name="api-tickets"),
    path("tickets/<int:ticket_id>/", views.TicketDetailApi.as_view(), name="api-ticket"),
    path("tickets/<int:ticket_id>/triage/", views.TicketTriageApi.as_view(), name="api-ticket-triage"),
    path("categories/", views.CategoryListApi.as_view(), name="api-categories"),
]
