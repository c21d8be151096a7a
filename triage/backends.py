"""The permission check behind every page, endpoint and socket, in one query.

Django's ModelBackend answers `has_perm` by loading *all* of a user's permissions
(two queries: their own and their groups') and building sets of strings. A request
makes one or two checks on a fresh user object (session and token authentication
both load the user anew), so that work was redone on every request: 13 % of an
ingest server's Python time, the largest single cost after the request machinery.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef, Q, QuerySet


class RoleBackend(ModelBackend):
    """ModelBackend, with `has_perm` asking the database for exactly the one
    permission (held directly or through a group) in one EXISTS query, and
    remembering the answer on the user object for the rest of the request."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return False
        loaded = getattr(user_obj, "_perm_cache", None)
        if loaded is not None:  # someone asked for all of them already
            return perm in loaded
        memo = permission_memo(user_obj)
        if perm not in memo:
            memo[perm] = holders_of(perm, user_obj).exists()
        return memo[perm]


def holders_of(perm: str, user: Any) -> QuerySet[Permission]:
    """The permission `perm` ("app_label.codename") if `user` holds it, directly or
    through a group; `user` is a user or an `OuterRef` to one."""
    app_label, _, codename = perm.partition(".")
    return Permission.objects.filter(
        Q(user=user) | Q(group__user=user), content_type__app_label=app_label, codename=codename
    )


def holds(perm: str, user_field: str = "user") -> Exists:
    """`holders_of` as an annotation on a query whose `user_field` is the user."""
    return Exists(holders_of(perm, OuterRef(user_field)))


def permission_memo(user: Any) -> dict[str, bool]:
    """The answers `RoleBackend.has_perm` remembers on this user object; a caller
    that loaded some with the user (`holds`) stores them here."""
    memo: dict[str, bool] = user.__dict__.setdefault("_role_perm_memo", {})
    return memo
