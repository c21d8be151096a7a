"""The permission check behind every page, endpoint and socket, in one cheap query.

Django's ModelBackend answers `has_perm` by loading *all* of a user's permissions
(two queries: their own and their groups') and building sets of strings. A request
makes one or two checks on a fresh user object (session and token authentication
both load the user anew), so that work was redone on every request, one of the
largest costs of a request after the request machinery (`bench/ingest.py`).

The check is written in SQL here, not with the ORM, because it runs on every
request and both ways of building it with the ORM were expensive on this hot path:
`Q(user=...) | Q(group__user=...)` over two many-to-many relations becomes five
outer joins per permission, slow for PostgreSQL to plan and for the ORM to compile
on every request (`bench/ingest.py` measures the effect; docs/ingest.md). The SQL is
standard (SQLite and PostgreSQL), takes its table names from the models, and is
checked against ModelBackend for every role and permission in tests/test_permissions.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection


class RoleBackend(ModelBackend):
    """ModelBackend, with `has_perm` asking the database for exactly the one
    permission (held directly or through a group) in one query, and remembering
    the answer on the user object for the rest of the request."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return False
        loaded = getattr(user_obj, "_perm_cache", None)
        if loaded is not None:  # someone asked for all of them already
            return perm in loaded
        memo = permission_memo(user_obj)
        if perm not in memo:
            memo[perm] = perm in permissions_held(user_obj.pk, [perm])
        return memo[perm]


@cache
def _tables() -> dict[str, str]:
    q = connection.ops.quote_name
    return {
        "perm": q(Permission._meta.db_table),
        "ct": q(ContentType._meta.db_table),
        "group_perm": q(Group.permissions.through._meta.db_table),
        "user_group": q(User.groups.through._meta.db_table),
        "user_perm": q(User.user_permissions.through._meta.db_table),
    }


def permission_rows_sql() -> str:
    """The tables `held_permission_condition` speaks of: p (permissions) and ct (their content types)."""
    t = _tables()
    return f"{t['perm']} p INNER JOIN {t['ct']} ct ON ct.id = p.content_type_id"


def held_permission_condition(perms: Sequence[str], user_id_sql: str) -> tuple[str, list[str]]:
    """An SQL condition on `permission_rows_sql()`'s rows: "p is one of `perms`
    ("app_label.codename") and the user whose id is `user_id_sql` holds it, directly
    or through a group", with its parameters.

    `user_id_sql` is SQL: a column such as `t.user_id`, or `%s`, in which case the
    caller appends the id to the parameters twice (groups, then direct permissions).
    """
    if not perms:
        raise ValueError("no permissions to look for")
    t = _tables()
    wanted = " OR ".join(["(ct.app_label = %s AND p.codename = %s)"] * len(perms))
    sql = (
        f"({wanted}) AND ("  # noqa: S608 - names from the models; values are parameters
        f"p.id IN (SELECT gp.permission_id FROM {t['group_perm']} gp INNER JOIN {t['user_group']} ug"
        f" ON ug.group_id = gp.group_id WHERE ug.user_id = {user_id_sql})"
        f" OR p.id IN (SELECT up.permission_id FROM {t['user_perm']} up WHERE up.user_id = {user_id_sql}))"
    )
    return sql, [part for perm in perms for part in _split(perm)]


def permissions_held(user_id: int, perms: Iterable[str]) -> set[str]:
    """Those of `perms` ("app_label.codename") that the user holds, in one query."""
    condition, params = held_permission_condition(list(perms), "%s")
    sql = f"SELECT ct.app_label, p.codename FROM {permission_rows_sql()} WHERE {condition}"  # noqa: S608 - names from the models; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, user_id, user_id])
        return {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}


def _split(perm: str) -> tuple[str, str]:
    app_label, _, codename = perm.partition(".")
    return app_label, codename


def permission_memo(user: Any) -> dict[str, bool]:
    """The answers `RoleBackend.has_perm` remembers on this user object; a caller
    that loaded some with the user (token authentication) stores them here."""
    memo: dict[str, bool] = user.__dict__.setdefault("_role_perm_memo", {})
    return memo
