"""Reads of the users and API tokens pages."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet

from triage.accounts.models import ApiToken
from triage.models import TaxonomyChange


def users_with_tokens() -> QuerySet[User]:
    """Every account, with its groups and how many live API tokens it has."""
    return (
        User.objects.prefetch_related("groups")
        .annotate(live_tokens=Count("api_tokens", filter=Q(api_tokens__revoked_at__isnull=True)))
        .order_by("-is_active", "username")
    )


def tokens(user: User | None = None) -> QuerySet[ApiToken]:
    found = ApiToken.objects.select_related("user", "created_by", "revoked_by")
    return found.filter(user=user) if user is not None else found


def user_history(user: User, limit: int = 50) -> QuerySet[TaxonomyChange]:
    """The account's changes (role, state, password resets, tokens), newest first."""
    name = user.get_username()
    kinds = [TaxonomyChange.Action.ROLE, TaxonomyChange.Action.USER, TaxonomyChange.Action.TOKEN]
    return TaxonomyChange.objects.filter(action__in=kinds).filter(Q(after__user=name) | Q(before__user=name))[:limit]
