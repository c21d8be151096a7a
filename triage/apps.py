from typing import Any

from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from triage import checks  # noqa: F401  (registers system checks)

        post_migrate.connect(_sync_roles, sender=self)


def _sync_roles(sender: AppConfig, **kwargs: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    from triage.roles import sync_groups

    sync_groups(Group, Permission)
