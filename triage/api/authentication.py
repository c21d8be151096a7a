"""Token authentication that loads the user's API permissions in the same query.

DRF's `TokenAuthentication` loads the token and its user; every endpoint then asks
`has_perm` for one permission, a second query. Here the token query also answers,
as EXISTS subqueries, the permissions the API's endpoints check, and leaves the
answers where `RoleBackend.has_perm` looks first: one round trip per request
instead of two. The answers last as long as the user object, which is this request.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from triage.api.permissions import API_PERMISSIONS
from triage.backends import holds, permission_memo


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, with the API's permissions loaded alongside."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        annotations = {f"holds_{i}": holds(perm) for i, perm in enumerate(API_PERMISSIONS)}
        try:
            token = Token.objects.select_related("user").annotate(**annotations).get(key=key)
        except Token.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        memo = permission_memo(token.user)
        for i, perm in enumerate(API_PERMISSIONS):
            memo[perm] = bool(getattr(token, f"holds_{i}"))
        return token.user, token
