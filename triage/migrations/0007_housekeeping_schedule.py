"""No operation: the periodic tasks are declared in triage/schedules.py and synced after
every migrate. Kept so the migration graph of existing databases stays whole."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0006_role_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = []
