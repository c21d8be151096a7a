"""The queue page and its partial: roles, escaping, and the production checks."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.utils import timezone

from triage import services
from triage.queue_row import age


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/", "/queue/rows/"])
def test_the_queue_needs_a_login_and_a_triage_role(path: str, agent: Any, supervisor: Any, outsider: Any) -> None:
    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert logged_in(outsider).get(path).status_code == 403
    assert logged_in(agent).get(path).status_code == 200
    assert logged_in(supervisor).get(path).status_code == 200


def test_the_queue_lists_untriaged_tickets_newest_first_with_escaped_text(
    agent: Any, live_model: Any, categories: Any
) -> None:
    older = services.ticket_ingest(subject="<b>older</b>", body="my card was declined").ticket
    newer = services.ticket_ingest(subject="<script>alert(1)</script>", body="I lost my card").ticket
    done = services.ticket_ingest(subject="done", body="transfer missing").ticket
    services.ticket_triage(ticket=done, agent=agent, category=categories["transfers"])

    html = logged_in(agent).get("/").content.decode()
    assert html.index(f'id="ticket-{newer.pk}"') < html.index(f'id="ticket-{older.pk}"')
    assert f'id="ticket-{done.pk}"' not in html
    # Escaped (words may be wrapped in <mark> when they weighed for the suggestion).
    assert "<script>" not in html.split("<main>")[1].split("<script id=")[0]
    assert "&lt;script&gt;" in html and "&lt;/script&gt;" in html
    assert "<b>" not in html and "</b>" not in html and "&lt;/b" in html
    assert 'data-suggested="lost-or-stolen-card"' in html
    assert '<strong id="queue-count">2</strong>' in html


@pytest.mark.parametrize(
    "path",
    ["/?queue=%00", "/queue/rows/?queue=a%00b", "/reports/?category=%00", "/reports/quality/?language=x%00"],
)
def test_a_nul_in_a_query_string_is_a_400_not_a_500(path: str, supervisor: Any) -> None:
    # PostgreSQL refuses NUL in a string, so any filter passed to a query failed.
    response = logged_in(supervisor).get(path)
    assert response.status_code == 400 and b"NUL" in response.content


def test_a_nul_in_an_api_query_string_is_a_json_400(supervisor: Any) -> None:
    response = logged_in(supervisor).get("/api/tickets/?category=a%00")
    assert response.status_code == 400 and "NUL" in response.json()["non_field_errors"][0]


def test_a_ticket_without_suggestion_says_so(agent: Any, categories: Any) -> None:
    services.ticket_ingest(subject="hello", body="no model is live yet")
    html = logged_in(agent).get("/").content.decode()
    assert "No suggestion" in html and "No model yet" in html


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-3, "0 s ago"),
        (0, "0 s ago"),
        (59, "59 s ago"),
        (60, "1 min ago"),
        (3599, "59 min ago"),
        (3600, "1 h 0 min ago"),
        (3 * 3600 + 25 * 60 + 9, "3 h 25 min ago"),
        (86400 * 2 + 5, "2 d ago"),
    ],
)
def test_a_tickets_age_reads_as_the_page_script_writes_it(seconds: int, shown: str) -> None:
    # static/triage/queue.js refreshes ages in this format; the server's first
    # rendering must match it, or a fresh row reads "0 minutes" then "8 s".
    assert age(timedelta(seconds=seconds)) == shown


def test_a_waiting_ticket_shows_its_age(agent: Any, categories: Any) -> None:
    services.ticket_ingest(
        subject="Where is my card", body="ordered it", received_at=timezone.now() - timedelta(minutes=5)
    )
    html = logged_in(agent).get("/").content.decode()
    assert re.search(r'<time class="age" datetime="[^"]+" title="[^"]+">5 min ago</time>', html)


def test_health_reports_the_live_model(client: Client, live_model: Any) -> None:
    body = client.get("/healthz").json()
    assert body["ok"] is True and body["status"] == "ok" and body["database"] == "ok"
    assert body["model_version"] == live_model.version and body["problems"] == []


def test_deploy_checks_refuse_the_development_signing_key(settings: Any) -> None:
    settings.MODEL_SIGNING_KEY = settings.INSECURE_DEV_SIGNING_KEY
    with pytest.raises(SystemCheckError, match=r"assist\.E001"):
        call_command("check", deploy=True, tags=["security"])
