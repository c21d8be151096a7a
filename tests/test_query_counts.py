"""The busiest pages read a page of rows in a fixed number of queries: more tickets,
agents or categories on the page never mean more queries (no N+1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import make_user
from triage import roles, services
from triage.models import Category, Ticket

pytestmark = pytest.mark.django_db

# Demo tickets that the session's model files under different categories.
TEXTS = [
    ("Card stolen", "my wallet was stolen with my card, please block it"),
    ("Transfer", "my transfer to my landlord has not arrived"),
    ("Fee", "why was I charged a monthly fee"),
    ("Card", "my new card has still not been delivered"),
]


def _ingest(count: int) -> list[Ticket]:
    return [
        services.ticket_ingest(subject=f"{subject} {i}", body=f"{body} ({i})").ticket
        for i, (subject, body) in ((i, TEXTS[i % len(TEXTS)]) for i in range(count))
    ]


def _queries(read: Callable[[], Any]) -> int:
    read()  # per-process caches (the live model, the permission check) are filled first
    with CaptureQueriesContext(connection) as context:
        read()
    return len(context.captured_queries)


def test_the_queue_page_reads_a_page_of_tickets_in_as_many_queries_as_one(agent: User, live_model: Any) -> None:
    client = Client()
    client.force_login(agent)

    def read() -> None:
        response = client.get("/")
        assert response.status_code == 200

    _ingest(1)
    one = _queries(read)
    _ingest(24)
    assert client.get("/").content.decode().count('id="ticket-') == 25
    assert _queries(read) == one


def test_the_ticket_list_api_reads_a_page_of_tickets_in_as_many_queries_as_one(
    agent: User, agent_client: Any, live_model: Any
) -> None:
    def read() -> None:
        response = agent_client.get("/api/tickets/")
        assert response.status_code == 200

    first = _ingest(1)
    services.ticket_triage(ticket=first[0], agent=agent, category=first[0].live_prediction.suggested)
    one = _queries(read)
    tickets = _ingest(24)
    for ticket in tickets[::2]:  # half of them decided: their decisions are on the page too
        services.ticket_triage(ticket=ticket, agent=agent, category=ticket.live_prediction.suggested)
    assert len(agent_client.get("/api/tickets/").json()["results"]) == 25
    assert _queries(read) == one


def test_the_agents_report_reads_in_as_many_queries_for_many_agents_as_for_one(
    supervisor: User, categories: dict[str, Category], live_model: Any
) -> None:
    client = Client()
    client.force_login(supervisor)

    def read() -> None:
        response = client.get("/reports/agents/")
        assert response.status_code == 200

    def triaged_by(agents: list[User]) -> None:
        for agent, ticket in zip(agents, _ingest(len(agents)), strict=True):
            chosen = categories["fees-and-charges"] if ticket.pk % 3 == 0 else ticket.live_prediction.suggested
            services.ticket_triage(ticket=ticket, agent=agent, category=chosen, seconds_taken=30.0)

    triaged_by([make_user("agent0", roles.AGENT)])
    one = _queries(read)
    triaged_by([make_user(f"agent{i}", roles.AGENT) for i in range(1, 12)])
    assert "agent11" in client.get("/reports/agents/").content.decode()
    assert _queries(read) == one
