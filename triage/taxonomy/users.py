"""Admins give users their role (agent, supervisor, admin, integration, or none)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction

from triage.models import TaxonomyChange
from triage.roles import CAN_MANAGE_USERS, GROUP_PERMISSIONS, user_may
from triage.taxonomy.services import TaxonomyError, record

ROLES = list(GROUP_PERMISSIONS)


def user_role(user: User) -> str:
    names = {g.name for g in user.groups.all()}
    for role in ("admin", "supervisor", "agent", "integration"):
        if role in names:
            return role
    return ""


@transaction.atomic
def user_role_set(*, actor: Any, user_id: int, role: str) -> User:
    """Replace the user's role groups with `role` ("" removes every role)."""
    if role and role not in ROLES:
        raise TaxonomyError("role", f"Unknown role “{role}”.")
    if user_id == actor.pk:
        raise TaxonomyError("role", "You cannot change your own role: ask another admin.")
    # Lock both rows, in id order, and re-check the actor's own role under the lock:
    # two admins demoting each other at once would otherwise both pass the view's
    # check and leave no admin.
    locked = {u.pk: u for u in User.objects.select_for_update().filter(pk__in=[actor.pk, user_id]).order_by("pk")}
    user = locked.get(user_id)
    if user is None:
        raise TaxonomyError("__all__", "That user does not exist.")
    current_actor = locked.get(actor.pk)
    if current_actor is None or not user_may(current_actor, CAN_MANAGE_USERS):
        raise TaxonomyError("__all__", "You are no longer allowed to change roles.")
    before = user_role(user)
    if before == role:
        return user
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role:
        user.groups.add(Group.objects.get(name=role))
    record(
        action=TaxonomyChange.Action.ROLE,
        actor=actor,
        summary=f"{user.get_username()}: {before or 'no role'} → {role or 'no role'}",
        before={"user": user.get_username(), "role": before},
        after={"user": user.get_username(), "role": role},
    )
    return user
