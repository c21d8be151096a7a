"""The product's roles, as Django groups with permissions.

A migration creates them; `user_role` tells the highest role a user has.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser, AnonymousUser

AGENT = "agent"
SUPERVISOR = "supervisor"
ADMIN = "admin"
INTEGRATION = "integration"

# Permission codenames (app "triage" unless dotted) granted to each group.
GROUP_PERMISSIONS: dict[str, list[str]] = {
    AGENT: ["view_ticket", "view_category", "triage_ticket"],
    SUPERVISOR: [
        "view_ticket",
        "view_category",
        "triage_ticket",
        "view_modelversion",
        "view_decision",
        "view_reports",
        "review_decision",
        "manage_models",
    ],
    ADMIN: [
        "view_ticket",
        "view_category",
        "triage_ticket",
        "ingest_ticket",
        "view_modelversion",
        "view_decision",
        "view_reports",
        "review_decision",
        "manage_models",
        "add_category",
        "change_category",
        "manage_taxonomy",
        "manage_users",
        "manage_integrations",
    ],
    # Service accounts that post tickets (a helpdesk webhook, the demo feed).
    INTEGRATION: ["ingest_ticket", "view_ticket", "view_category"],
}

CAN_TRIAGE = "triage.triage_ticket"
CAN_INGEST = "triage.ingest_ticket"
CAN_VIEW_TICKETS = "triage.view_ticket"
CAN_VIEW_REPORTS = "triage.view_reports"
CAN_REVIEW = "triage.review_decision"
CAN_MANAGE_MODELS = "triage.manage_models"
CAN_MANAGE_TAXONOMY = "triage.manage_taxonomy"
CAN_MANAGE_USERS = "triage.manage_users"
CAN_MANAGE_INTEGRATIONS = "triage.manage_integrations"


def user_may(user: AbstractUser | AnonymousUser | None, perm: str) -> bool:
    """Whether a signed-in, active user holds `perm` (through a role)."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.has_perm(perm))


def user_can_triage(user: AbstractUser | AnonymousUser) -> bool:
    return user_may(user, CAN_TRIAGE)


def sync_groups(group_model: Any, permission_model: Any, *, strict: bool = True) -> None:
    """Create the role groups and give each exactly its permissions.

    Run by the roles migration (with historical models) and after every migrate,
    so a change to GROUP_PERMISSIONS reaches existing installs. A migration passes
    strict=False: permissions added by later migrations don't exist yet there; the
    strict run after the last migration makes sure none is missing.
    """
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        perms = permission_model.objects.filter(content_type__app_label="triage", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing and strict:
            raise RuntimeError(f"permissions missing for group {name}: {sorted(missing)}")
        group.permissions.set(perms)
