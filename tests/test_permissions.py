"""The one-query permission check agrees with Django's ModelBackend and stays cheap."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User

from tests.conftest import make_user
from triage import roles
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
