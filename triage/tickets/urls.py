from django.urls import path

from triage.tickets import views

urlpatterns = [
    path("<int:ticket_id>/", views.ticket_detail, name="ticket"),
]
