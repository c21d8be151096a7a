"""The Celery app. Tasks live in triage/tasks.py; the schedule in the database (django-celery-beat)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")

app = Celery("assist")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
