"""The role matrix: every role (anonymous, outsider, agent, supervisor, admin, integration)
against every page, API endpoint and websocket of the URL conf.

The matrix is built from the URL conf itself: a new page or endpoint without an entry
in ACCESS fails `test_every_url_has_a_role_entry`, so nothing ships unchecked.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import client_for, make_user
from triage.accounts.services import api_token_issue
from triage.consumers import CLOSE_FORBIDDEN
from triage.reports.urls import REPORT_SLUGS
from triage.routing import websocket_urlpatterns

ROLES = ["anonymous", "outsider", "agent", "supervisor", "admin", "integration"]
TRIAGERS = {"agent", "supervisor", "admin"}
SUPERVISORS = {"supervisor", "admin"}
ADMINS = {"admin"}
VIEWERS = {"agent", "supervisor", "admin", "integration"}
INGESTERS = {"admin", "integration"}
EVERYONE_LOGGED_IN = {"outsider", "agent", "supervisor", "admin", "integration"}
PUBLIC = "public"  # login pages, health: no role needed
SIGNED = "signed"  # helpdesk webhooks: the sender's signature, never a session or token
STAFF = "staff"  # Django's admin site: is_staff accounts only (none of the personas)

# URL name -> [(method, who may)]; "api" marks token-authenticated endpoints.
ACCESS: dict[str, list[tuple[str, Any]]] = {
    "queue": [("GET", TRIAGERS)],
    "queue-rows": [("GET", TRIAGERS)],
    "healthz": [("GET", PUBLIC)],
    "lockouts": [("GET", ADMINS), ("POST", ADMINS)],
    "models": [("GET", SUPERVISORS)],
    "models-retrain": [("POST", SUPERVISORS)],
    "models-run": [("GET", SUPERVISORS)],
    "models-schedule": [("POST", ADMINS)],
    "model-version": [("GET", SUPERVISORS)],
    "model-promote": [("POST", SUPERVISORS)],
    "model-shadow": [("POST", SUPERVISORS)],
    "taxonomy": [("GET", ADMINS), ("POST", ADMINS)],
    "taxonomy-category": [("GET", ADMINS), ("POST", ADMINS)],
    "taxonomy-threshold-preview": [("GET", ADMINS)],
    "taxonomy-splits": [("GET", SUPERVISORS)],
    "taxonomy-split": [("GET", SUPERVISORS), ("POST", SUPERVISORS)],
    "taxonomy-rules": [("GET", ADMINS), ("POST", ADMINS)],
    "taxonomy-rule": [("GET", ADMINS), ("POST", ADMINS)],
    "taxonomy-rule-delete": [("POST", ADMINS)],
    "taxonomy-users": [("GET", ADMINS), ("POST", ADMINS)],
    "taxonomy-user": [("GET", ADMINS), ("POST", ADMINS)],
    "taxonomy-tokens": [("GET", ADMINS), ("POST", ADMINS)],
    "taxonomy-token-revoke": [("POST", ADMINS)],
    "taxonomy-auto-undo": [("POST", TRIAGERS)],
    "reports": [("GET", SUPERVISORS)],
    **{f"reports-{slug}": [("GET", SUPERVISORS)] for slug in REPORT_SLUGS},
    **{f"reports-{slug}-csv": [("GET", SUPERVISORS)] for slug in ("overview", *REPORT_SLUGS)},
    "reports-confusion-cell": [("GET", SUPERVISORS)],
    "reports-ticket": [("GET", SUPERVISORS)],
    "reports-review": [("GET", SUPERVISORS)],
    "reports-review-submit": [("POST", SUPERVISORS)],
    "api-tickets": [("GET", VIEWERS), ("POST", INGESTERS)],
    "api-ticket": [("GET", VIEWERS)],
    "api-ticket-triage": [("POST", TRIAGERS)],
    "api-ticket-undo": [("POST", TRIAGERS)],
    "api-tickets-bulk-triage": [("POST", TRIAGERS)],
    "api-categories": [("GET", VIEWERS)],
    "schema": [("GET", EVERYONE_LOGGED_IN)],
    "ticket": [("GET", VIEWERS)],
    "integrations": [("GET", ADMINS)],
    "integrations-source-link": [("POST", ADMINS)],
    "integrations-mailbox-new": [("GET", ADMINS), ("POST", ADMINS)],
    "integrations-mailbox-test": [("POST", ADMINS)],
    "integrations-mailbox": [("GET", ADMINS), ("POST", ADMINS)],
    "integrations-mailbox-poll": [("POST", ADMINS)],
    "integrations-mailbox-delete": [("POST", ADMINS)],
    "integrations-helpdesk-new": [("GET", ADMINS), ("POST", ADMINS)],
    "integrations-helpdesk": [("GET", ADMINS), ("POST", ADMINS)],
    "integrations-helpdesk-secret": [("POST", ADMINS)],
    "integrations-helpdesk-delete": [("POST", ADMINS)],
    "integrations-endpoint-new": [("GET", ADMINS), ("POST", ADMINS)],
    "integrations-endpoint": [("GET", ADMINS), ("POST", ADMINS)],
    "integrations-endpoint-secret": [("POST", ADMINS)],
    "integrations-endpoint-test": [("POST", ADMINS)],
    "integrations-endpoint-enable": [("POST", ADMINS)],
    "integrations-endpoint-resend": [("POST", ADMINS)],
    "integrations-endpoint-delete": [("POST", ADMINS)],
    "integrations-delivery-resend": [("POST", ADMINS)],
    "api-integration-webhook": [("POST", SIGNED)],
    "api-docs": [("GET", EVERYONE_LOGGED_IN)],
}
# Prefixes served by Django itself: login/logout/password pages, and the admin site.
PUBLIC_PREFIXES = ("accounts/",)
STAFF_PREFIXES = ("admin/",)

SOCKETS = {"ws/queue/": TRIAGERS, "ws/models/": SUPERVISORS}


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, str | None]]:
    found = []
    for p in patterns:
        if isinstance(p, URLResolver):
            found += _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            found.append((prefix + str(p.pattern), p.name))
    return found


URLS = _walk(get_resolver().url_patterns)
OURS = [(route, name) for route, name in URLS if not route.startswith(PUBLIC_PREFIXES + STAFF_PREFIXES)]


def test_every_url_has_a_role_entry() -> None:
    missing = sorted({name or route for route, name in OURS if name not in ACCESS})
    assert not missing, f"add these to ACCESS in {__file__}: {missing}"
    assert {str(p.pattern) for p in websocket_urlpatterns} == set(SOCKETS)


CASES = [(name, method, allowed, role) for name, rules in ACCESS.items() for method, allowed in rules for role in ROLES]


@pytest.fixture
def objects(categories: Any, admin_user: Any) -> dict[str, Any]:
    from triage import services
    from triage.integrations import services as integrations
    from triage.integrations.models import Delivery, OutboxEvent
    from triage.models import RoutingRule, Split

    ticket = services.ticket_ingest(subject="x", body="y").ticket
    rule = RoutingRule.objects.create(name="r", pattern="zzz", category=categories["transfers"])
    split = Split.objects.create(source=categories["transfers"])
    mailbox = integrations.mailbox_save(
        actor=None, name="m", host="127.0.0.1", port=1, security="none", username="u", password="p", folder="INBOX",
        after="seen", move_to="", queue=None, channel="email", poll_seconds=30, enabled=False, link_template="",
    )  # fmt: skip
    helpdesk = integrations.helpdesk_save(
        actor=None, name="h", kind="generic", secret="", mapping={"external_id": "id", "body": "text"}, queue=None,
        channel="web", enabled=True, link_template="",
    )  # fmt: skip
    endpoint, _ = integrations.endpoint_save(
        actor=None, name="e", url="http://127.0.0.1:1/hook", events=["ticket.triaged"]
    )
    event = OutboxEvent.objects.create(event_id="evt_x", type="ticket.triaged", payload={})
    delivery = Delivery.objects.create(event=event, endpoint=endpoint)
    account = make_user("someone", "agent")
    token = api_token_issue(actor=None, user_id=account.pk, name="matrix").token
    return {
        "account": account,
        "token": token,
        "pk": categories["transfers"].pk,
        "ticket_id": ticket.pk,
        "run_id": 1,
        "number": 1,
        "check_id": 1,
        "rule": rule,
        "split": split,
        "mailbox_id": mailbox.pk,
        "helpdesk_id": helpdesk.pk,
        "endpoint_id": endpoint.pk,
        "delivery_id": delivery.pk,
        "slug": helpdesk.slug,
    }


def _path(name: str, objects: dict[str, Any]) -> str:
    from django.urls import reverse

    route = next(r for r, n in OURS if n == name)
    kwargs: dict[str, Any] = {}
    if "<int:pk>" in route:
        kwargs["pk"] = (
            objects["rule"].pk
            if "rules/" in route
            else objects["split"].pk
            if "splits/" in route
            else objects["account"].pk
            if "users/" in route
            else objects["token"].pk
            if "tokens/" in route
            else objects["pk"]
        )
    for key in ("ticket_id", "run_id", "number", "check_id", "mailbox_id", "helpdesk_id", "endpoint_id", "delivery_id"):
        if f"<int:{key}>" in route or f"<segment:{key}>" in route:
            kwargs[key] = objects[key]
    if "<slug:slug>" in route:
        kwargs["slug"] = objects["slug"]
    if "<str:table>" in route:
        kwargs["table"] = "daily"
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize(("name", "method", "allowed", "role"), CASES)
def test_role_matrix(name: str, method: str, allowed: Any, role: str, objects: dict[str, Any]) -> None:
    path = _path(name, objects)
    user = None if role == "anonymous" else make_user(f"u-{role}", None if role == "outsider" else role)
    is_api = path.startswith("/api/")
    # The API is used with tokens: a token carries its user's role.
    client: Any = client_for(user) if is_api else Client()
    if user is not None and not is_api:
        client.force_login(user)
    response = client.get(path) if method == "GET" else client.post(path, {})
    code = response.status_code
    may = allowed == PUBLIC or role in allowed
    if allowed == SIGNED:  # whoever asks: without the sender's signature, a 401
        assert code == 401, f"{role} {method} {path}: {code}"
    elif may:
        assert code not in (401, 403, 500), f"{role} {method} {path}: {code}"
    elif role == "anonymous" and not is_api:
        assert code == 302 and "/accounts/login/" in response["Location"], f"{method} {path}: {code}"
    else:
        assert code in ((401, 403) if role == "anonymous" else (403,)), f"{role} {method} {path}: {code}"


@pytest.mark.parametrize("role", ROLES)
def test_the_admin_site_is_for_staff_only(role: str, db: Any) -> None:
    client = Client()
    if role != "anonymous":
        client.force_login(make_user(f"u-{role}", None if role == "outsider" else role))
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(SOCKETS))
async def test_socket_matrix(route: str, role: str) -> None:
    from channels.db import database_sync_to_async

    if role == "anonymous":
        user: Any = AnonymousUser()
    else:
        user = await database_sync_to_async(make_user)(f"s-{role}", None if role == "outsider" else role)
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/" + route)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected  # refusals come after the handshake, so the browser sees the 4403
    if role in SOCKETS[route]:
        assert await communicator.receive_nothing(timeout=0.2), f"{role} refused on {route}"
        await communicator.disconnect()
    else:
        closed = await communicator.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}, f"{role} on {route}: {closed}"


@pytest.mark.parametrize("model", ["category", "routingrule", "queue", "ticket", "modelversion", "decision"])
def test_the_admin_site_cannot_change_what_the_product_keeps_history_of(model: str, categories: Any) -> None:
    # Even a superuser: edits there would skip the history, version checks and caches.
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(root)
    assert client.get(f"/admin/triage/{model}/").status_code == 200  # browsing is fine
    assert client.get(f"/admin/triage/{model}/add/").status_code == 403
    category = categories["transfers"]
    if model == "category":
        response = client.post(f"/admin/triage/category/{category.pk}/change/", {"name": "Renamed", "slug": "x"})
        assert response.status_code == 403
        category.refresh_from_db()
        assert category.name != "Renamed"
