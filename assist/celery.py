"""The Celery app. Tasks live in triage/tasks.py and triage/integrations/tasks.py; the schedule
in the database (django-celery-beat)."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")

app = Celery("assist")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["triage.integrations"])  # its own tasks module (mail polls, webhook deliveries)


@app.on_after_configure.connect
def _make_filesystem_broker_folders(sender: Celery, **kwargs: object) -> None:
    # The embedded broker (no REDIS_URL) keeps messages in folders that must exist.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
