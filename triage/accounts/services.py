"""Writes for the users and API tokens pages: create, deactivate, reactivate, reset a
password, issue and revoke API tokens. Each is recorded in the change history
(who, when, before, after); roles are set by `triage.taxonomy.users.user_role_set`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group, User
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from triage.accounts.models import ApiToken
from triage.accounts.tokens import SHOWN_CHARS, new_key, token_digest
from triage.models import TaxonomyChange
from triage.roles import ADMIN, CAN_MANAGE_USERS, user_may
from triage.taxonomy.services import TaxonomyError, record
from triage.taxonomy.users import ROLES, user_role

USERNAME_MAX = 150


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # shown once; only its digest is stored


@dataclass(frozen=True)
class PasswordReset:
    user: User
    link: str = ""  # a one-time path to set a new password (valid until used or it expires)
    password: str = ""  # a temporary password, printed once


def _check_actor(actor: Any, user_id: int | None = None) -> None:
    if not user_may(actor, CAN_MANAGE_USERS):
        raise TaxonomyError("__all__", "You are no longer allowed to manage users.")
    if user_id is not None and user_id == actor.pk:
        raise TaxonomyError("__all__", "You cannot do this to your own account: ask another admin.")


def _locked_user(user_id: int) -> User:
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise TaxonomyError("__all__", "That user does not exist (any more).")
    return user


@transaction.atomic
def user_create(
    *, actor: Any, username: str, role: str, first_name: str = "", last_name: str = "", email: str = ""
) -> tuple[User, PasswordReset]:
    """A new account with a role and a temporary password (returned once, never stored in clear)."""
    _check_actor(actor)
    username = username.strip()
    if not username:
        raise TaxonomyError("username", "A user needs a username.")
    if len(username) > USERNAME_MAX:
        raise TaxonomyError("username", f"A username has at most {USERNAME_MAX} characters.")
    try:
        User.username_validator(username)
    except ValidationError:
        raise TaxonomyError("username", "Use letters, digits and @ . + - _ only.") from None
    if role and role not in ROLES:
        raise TaxonomyError("role", f"Unknown role “{role}”.")
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise TaxonomyError("email", f"“{email}” is not an email address.") from None
    if User.objects.filter(username__iexact=username).exists():
        raise TaxonomyError("username", f"A user named “{username}” already exists.")
    try:
        with transaction.atomic():
            user = User.objects.create(
                username=username, first_name=first_name.strip()[:150], last_name=last_name.strip()[:150], email=email
            )
    except IntegrityError:
        raise TaxonomyError("username", f"A user named “{username}” was just created by someone else.") from None
    if role:
        user.groups.add(Group.objects.get(name=role))
    password = _temporary_password(user)
    record(
        action=TaxonomyChange.Action.USER,
        actor=actor,
        summary=f"User {username} created ({role or 'no role'})",
        after={"user": username, "role": role, "email": email},
    )
    return user, PasswordReset(user=user, password=password)


def _temporary_password(user: User) -> str:
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    return password


@transaction.atomic
def user_active_set(*, actor: Any, user_id: int, active: bool) -> User:
    """Deactivate (no sign-in, no API, open pages and sockets refused at their next
    check) or reactivate an account. Its history and decisions stay."""
    _check_actor(actor, user_id)
    user = _locked_user(user_id)
    if user.is_active == active:
        return user
    if not active and user_role(user) == ADMIN:
        others = User.objects.filter(is_active=True, groups__name=ADMIN).exclude(pk=user.pk)
        if not others.exists():
            raise TaxonomyError("__all__", "This is the last active admin: make another admin first.")
    user.is_active = active
    user.save(update_fields=["is_active"])
    record(
        action=TaxonomyChange.Action.USER,
        actor=actor,
        summary=f"User {user.get_username()} {'reactivated' if active else 'deactivated'}",
        before={"user": user.get_username(), "active": not active},
        after={"user": user.get_username(), "active": active},
    )
    return user


@transaction.atomic
def user_password_reset(*, actor: Any, user_id: int, mode: str) -> PasswordReset:
    """`mode` "link": a one-time link to Django's password-reset form (it stops
    working once the password is set, or after PASSWORD_RESET_TIMEOUT); "temporary":
    a new random password, printed once. Either way the old password stops working."""
    _check_actor(actor, user_id)
    if mode not in {"link", "temporary"}:
        raise TaxonomyError("mode", "Choose a one-time link or a temporary password.")
    user = _locked_user(user_id)
    if not user.is_active:
        raise TaxonomyError("__all__", f"{user.get_username()} is deactivated: reactivate the account first.")
    if mode == "temporary":
        reset = PasswordReset(user=user, password=_temporary_password(user))
    else:
        user.set_unusable_password()  # the old password must not outlive the reset
        user.save(update_fields=["password"])
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        link = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
        reset = PasswordReset(user=user, link=link)
    record(
        action=TaxonomyChange.Action.USER,
        actor=actor,
        summary=f"Password of {user.get_username()} reset ({'one-time link' if mode == 'link' else 'temporary'})",
        after={"user": user.get_username(), "reset": mode},
    )
    return reset


@transaction.atomic
def api_token_issue(*, actor: Any, user_id: int, name: str) -> IssuedToken:
    """A new API key for a user (typically an integration account); the token carries
    the user's role. The key is returned once."""
    if actor is not None:
        _check_actor(actor)
    name = " ".join(name.split())
    if not name:
        raise TaxonomyError("name", "Name the token after what uses it (e.g. “Zendesk webhook”).")
    if len(name) > 120:
        raise TaxonomyError("name", "A token name has at most 120 characters.")
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise TaxonomyError("user", "Choose a user.")
    if not user.is_active:
        raise TaxonomyError("user", f"{user.get_username()} is deactivated: reactivate the account first.")
    if ApiToken.objects.filter(user=user, name__iexact=name, revoked_at__isnull=True).exists():
        raise TaxonomyError("name", f"{user.get_username()} already has a live token named “{name}”.")
    key = new_key()
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                prefix=key[:SHOWN_CHARS],
                digest=token_digest(key),
                created_by=actor if actor is not None and actor.is_authenticated else None,
            )
    except IntegrityError:
        raise TaxonomyError("name", f"{user.get_username()} already has a live token named “{name}”.") from None
    record(
        action=TaxonomyChange.Action.TOKEN,
        actor=actor,
        summary=f"API token “{name}” issued to {user.get_username()}",
        after={"user": user.get_username(), "token": name, "prefix": token.prefix},
    )
    return IssuedToken(token=token, key=key)


@transaction.atomic
def api_token_revoke(*, actor: Any, token_id: int) -> ApiToken:
    """The key stops working at the next request; the row stays for the record."""
    _check_actor(actor)
    token = ApiToken.objects.select_for_update().select_related("user").filter(pk=token_id).first()
    if token is None:
        raise TaxonomyError("__all__", "That token does not exist.")
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    record(
        action=TaxonomyChange.Action.TOKEN,
        actor=actor,
        summary=f"API token “{token.name}” of {token.user.get_username()} revoked",
        before={"user": token.user.get_username(), "token": token.name, "prefix": token.prefix},
    )
    return token


def api_token_rotate(*, user: User, name: str) -> str:
    """A fresh key for a process that holds its own (the demo feed): earlier live tokens of
    that name are revoked, so a restarted process does not pile them up."""
    with transaction.atomic():
        ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True).update(revoked_at=timezone.now())
        key = new_key()
        ApiToken.objects.create(user=user, name=name, prefix=key[:SHOWN_CHARS], digest=token_digest(key))
    return key
