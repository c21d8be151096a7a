from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TriageConfig(AppConfig):
    name = "triage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready (they import models); checks
        # registers the system checks.
        from triage import checks  # noqa: F401

        post_migrate.connect(_after_migrate, sender=self)


def _after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    """The roles and the periodic tasks, as the code declares them (roles.py, schedules.py)."""
    # Imported here: this module is loaded before the app registry is ready.
    from django.contrib.auth.models import Group, Permission

    from triage.roles import sync_groups
    from triage.schedules import schedules_sync

    sync_groups(Group, Permission)
    schedules_sync()
