"""Poll the mailboxes and sweep the outbox every few seconds (django-celery-beat)."""

import json

from django.db import migrations

SCHEDULES = {
    # Each mailbox has its own interval; this only sends the polls that are due.
    "Mail polling": "triage.integrations.tasks.mail_poll_due",
    # Retries whose time has come, and any event whose "deliver now" message was lost.
    "Webhook deliveries": "triage.integrations.tasks.outbox_run",
}


def add_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5_seconds, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
    for name, task in SCHEDULES.items():
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": every_5_seconds, "kwargs": json.dumps({}), "queue": "integrations"},
        )


def remove_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0018_integrations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedules, remove_schedules)]
