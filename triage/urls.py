from django.urls import path

from triage import lockout_views, views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/rows/", views.queue_rows, name="queue-rows"),
    path("healthz", views.healthz, name="healthz"),
    path("users/lockouts/", lockout_views.lockouts_page, name="lockouts"),
]
