"""No operation: the periodic tasks are declared in triage/schedules.py and synced after
every migrate. Kept so the migration graph of existing databases stays whole."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0002_roles_and_append_only_decisions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = []
