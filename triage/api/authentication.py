"""Token authentication that loads the user's API permissions in the same query.

DRF's `TokenAuthentication` loads the token and its user; every endpoint then asks
`has_perm` for one permission, a second query. Here one query loads the token, its
user and which of the permissions the API's endpoints check the user holds, and
leaves the answers where `RoleBackend.has_perm` looks first. The answers last as
long as the user object, which is this request, so a role taken away applies at the
next request.

It runs on every API request, so it is SQL rather than a queryset: the ORM's form
of it, an OR over many-to-many joins, is costly both to compile in Python and for
PostgreSQL to plan (triage/backends.py says why; `bench/ingest.py` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from triage.accounts.models import ApiToken
from triage.accounts.tokens import api_token_touch, token_digest
from triage.api.permissions import API_PERMISSIONS
from triage.backends import held_permission_condition, permission_memo, permission_rows_sql


@dataclass(frozen=True)
class _TokenQuery:
    sql: str
    params: list[str]  # before the key
    token_names: list[str]
    user_names: list[str]
    converters: list[tuple[int, list[Any], Any]]  # the ORM's, by column: values as a queryset gives them


@cache
def _token_query() -> _TokenQuery:
    q = connection.ops.quote_name
    token_fields = list(ApiToken._meta.concrete_fields)  # from_db takes them in this order
    user_fields = list(User._meta.concrete_fields)
    columns = [f.get_col("t") for f in token_fields] + [f.get_col("u") for f in user_fields]
    condition, params = held_permission_condition(API_PERMISSIONS, "t.user_id")
    select = ", ".join([f"t.{q(f.column)}" for f in token_fields] + [f"u.{q(f.column)}" for f in user_fields])
    sql = (
        f"SELECT {select}, ct.app_label, p.codename"  # noqa: S608 - names from the models; values are parameters
        f" FROM {q(ApiToken._meta.db_table)} t INNER JOIN {q(User._meta.db_table)} u ON u.id = t.user_id"
        f" LEFT OUTER JOIN ({permission_rows_sql()}) ON {condition}"
        " WHERE t.digest = %s AND t.revoked_at IS NULL"
    )
    converters = []
    for i, column in enumerate(columns):
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((i, found, column))
    return _TokenQuery(sql, params, [f.attname for f in token_fields], [f.attname for f in user_fields], converters)


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, with the API's permissions loaded alongside;
    the key is looked up by its digest, and a revoked token is refused."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        query = _token_query()
        with connection.cursor() as cursor:
            # Keys are stored as digests only (triage/accounts/models.py).
            cursor.execute(query.sql, [*query.params, token_digest(key)])
            rows = cursor.fetchall()  # one per permission held, or one with none
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        first = list(rows[0])
        for i, converters, column in query.converters:
            for converter in converters:
                first[i] = converter(first[i], column, connection)
        n = len(query.token_names)
        user = User.from_db(connection.alias, query.user_names, first[n:-2])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = ApiToken.from_db(connection.alias, query.token_names, first[:n])
        token.user = user
        api_token_touch(token)
        held = {f"{app_label}.{codename}" for *_, app_label, codename in rows if codename is not None}
        memo = permission_memo(user)
        for perm in API_PERMISSIONS:
            memo[perm] = perm in held
        return user, token
