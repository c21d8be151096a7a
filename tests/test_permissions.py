"""The one-query permission check agrees with Django's ModelBackend and stays cheap."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import api_key, make_user
from triage import roles
from triage.accounts.models import ApiToken
from triage.accounts.tokens import token_digest
from triage.api.authentication import TokenAuthentication
from triage.api.permissions import API_PERMISSIONS
from triage.backends import RoleBackend


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # as each request loads it


def test_every_role_has_exactly_the_permissions_modelbackend_gives_it(db: Any) -> None:
    users = [make_user(f"u-{name}", name) for name in roles.GROUP_PERMISSIONS] + [make_user("nobody", None)]
    direct = make_user("direct", None)
    direct.user_permissions.add(Permission.objects.get(codename="add_ticket"))
    users.append(direct)
    perms = [f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")]
    for user in users:
        for perm in perms:
            assert RoleBackend().has_perm(fresh(user), perm) == ModelBackend().has_perm(fresh(user), perm), (user, perm)
    assert fresh(direct).has_perm("triage.add_ticket") and not fresh(users[-2]).has_perm("triage.add_ticket")


def test_a_check_is_one_query_and_is_remembered_for_the_request(db: Any, django_assert_num_queries: Any) -> None:
    agent = fresh(make_user("a", roles.AGENT))
    with django_assert_num_queries(1):
        assert agent.has_perm(roles.CAN_TRIAGE)
        assert agent.has_perm(roles.CAN_TRIAGE)
    with django_assert_num_queries(1):
        assert not agent.has_perm(roles.CAN_INGEST)


def test_taking_a_role_away_applies_to_the_next_request(db: Any) -> None:
    agent = make_user("a", roles.AGENT)
    assert fresh(agent).has_perm(roles.CAN_TRIAGE)
    agent.groups.remove(Group.objects.get(name=roles.AGENT))
    assert not fresh(agent).has_perm(roles.CAN_TRIAGE)


def test_inactive_users_have_no_permission_and_superusers_have_all(db: Any) -> None:
    agent = make_user("a", roles.AGENT)
    User.objects.filter(pk=agent.pk).update(is_active=False)
    assert not fresh(agent).has_perm(roles.CAN_TRIAGE)
    boss = User.objects.create_superuser("boss", password="pw")
    assert fresh(boss).has_perm(roles.CAN_INGEST) and fresh(boss).has_perm("triage.anything")


def test_token_authentication_loads_the_apis_permissions_in_its_one_query(
    db: Any, django_assert_num_queries: Any
) -> None:
    for role in [*roles.GROUP_PERMISSIONS, None]:
        user = make_user(f"u-{role}", role)
        key = api_key(user)
        # A token's use is written once a minute at most (tokens.api_token_touch): here, not in this minute.
        ApiToken.objects.filter(user=user).update(last_used_at=timezone.now())
        with django_assert_num_queries(1):
            loaded, token = TokenAuthentication().authenticate_credentials(key)
            answers = {perm: loaded.has_perm(perm) for perm in API_PERMISSIONS}
        assert token.digest == token_digest(key) and loaded.pk == user.pk
        assert answers == {perm: RoleBackend().has_perm(fresh(user), perm) for perm in API_PERMISSIONS}, role
    assert any(answers.values()) is False  # the user without a role
    assert set(answers) == {roles.CAN_INGEST, roles.CAN_TRIAGE, roles.CAN_VIEW_TICKETS}


def test_a_token_is_refused_when_unknown_or_its_user_inactive_and_a_lost_role_applies_at_once(db: Any) -> None:
    feeder = make_user("feeder", roles.INTEGRATION)
    key = api_key(feeder)
    api = APIClient()
    body = {"subject": "Card lost", "body": "I lost my card"}
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert api.post("/api/tickets/", body, format="json").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post("/api/tickets/", body, format="json").status_code == 201
    feeder.groups.remove(Group.objects.get(name=roles.INTEGRATION))
    assert api.post("/api/tickets/", {**body, "external_id": "x2"}, format="json").status_code == 403
    User.objects.filter(pk=feeder.pk).update(is_active=False)
    assert api.post("/api/tickets/", body, format="json").status_code == 401


def test_token_authentication_loads_the_user_and_token_as_the_orm_does(db: Any) -> None:
    """Its SQL is hand-written: the objects it builds must equal the ORM's, field by field,
    and a permission held directly (not through a role) counts too."""
    user = make_user("direct-feeder", None)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="triage", codename="ingest_ticket"))
    key = api_key(user)
    loaded, token = TokenAuthentication().authenticate_credentials(key)
    expected_user, expected_token = fresh(user), ApiToken.objects.get(digest=token_digest(key))
    for field in User._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected_user, field.attname), field.name
    assert loaded.date_joined.tzinfo is not None and token.created_at == expected_token.created_at
    assert token.user is loaded and token.user_id == user.pk
    assert loaded.has_perm(roles.CAN_INGEST) and not loaded.has_perm(roles.CAN_TRIAGE)
