"""Agents' decisions: accept, correct, the race between two agents, append-only history."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from tests.conftest import client_for
from triage import services
from triage.models import Decision, Ticket


@pytest.fixture
def ticket(live_model: Any) -> Ticket:
    return services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket


def triage(client: APIClient, ticket: Ticket, slug: str, **extra: Any) -> Any:
    return client.post(f"/api/tickets/{ticket.pk}/triage/", {"category": slug, **extra}, format="json")


def test_accepting_the_suggestion_records_an_accepted_decision(
    agent: Any, agent_client: APIClient, ticket: Ticket, live_model: Any
) -> None:
    suggested = ticket.live_prediction.suggested.slug
    response = triage(agent_client, ticket, suggested, seconds_taken=4.2)
    assert response.status_code == 200, response.content
    assert response.json()["applied"] is True
    decision = Decision.objects.get()
    assert decision.accepted and decision.applied
    assert decision.agent == agent and decision.chosen.slug == suggested and decision.suggested.slug == suggested
    assert decision.model_version == live_model and decision.seconds_taken == pytest.approx(4.2)
    ticket.refresh_from_db()
    assert ticket.status == "triaged" and ticket.category.slug == suggested and ticket.label_source == "agent"
    assert ticket.triaged_by == agent


def test_choosing_another_category_records_a_correction(agent_client: APIClient, ticket: Ticket) -> None:
    suggested = ticket.live_prediction.suggested.slug
    other = "suspected-fraud" if suggested != "suspected-fraud" else "transfers"
    assert triage(agent_client, ticket, other).status_code == 200
    decision = Decision.objects.get()
    assert not decision.accepted and decision.suggested.slug == suggested and decision.chosen.slug == other
    ticket.refresh_from_db()
    assert ticket.category.slug == other


def test_a_ticket_without_suggestion_can_be_triaged(agent_client: APIClient, categories: Any) -> None:
    ticket = services.ticket_ingest(subject="", body="hello?").ticket
    assert triage(agent_client, ticket, "transfers").status_code == 200
    decision = Decision.objects.get()
    assert decision.suggested is None and not decision.accepted and decision.model_version is None


def test_the_second_agent_is_told_and_both_actions_are_recorded(
    agent_client: APIClient, second_agent: Any, ticket: Ticket
) -> None:
    assert triage(agent_client, ticket, "suspected-fraud").status_code == 200
    late = triage(client_for(second_agent), ticket, "transfers")
    assert late.status_code == 409
    assert "Already triaged by alice" in late.json()["detail"]
    assert late.json()["applied"] is False
    ticket.refresh_from_db()
    assert ticket.category.slug == "suspected-fraud"
    assert [(d.agent.username, d.chosen.slug, d.applied) for d in Decision.objects.order_by("id")] == [
        ("alice", "suspected-fraud", True),
        ("bob", "transfers", False),
    ]


def test_an_agent_sending_the_same_choice_again_gets_its_first_answer_and_nothing_new_is_stored(
    agent_client: APIClient, second_agent: Any, ticket: Ticket
) -> None:
    first = triage(agent_client, ticket, "suspected-fraud")
    again = triage(agent_client, ticket, "suspected-fraud")  # a retry, a double key press
    assert first.status_code == again.status_code == 200
    assert again.json()["applied"] is True and again.json()["decision"] == first.json()["decision"]
    # Another choice by the same agent, or anyone else's, is still a recorded conflict.
    assert triage(agent_client, ticket, "transfers").status_code == 409
    assert triage(client_for(second_agent), ticket, "suspected-fraud").status_code == 409
    assert [(d.agent.username, d.chosen.slug, d.applied) for d in Decision.objects.order_by("id")] == [
        ("alice", "suspected-fraud", True),
        ("alice", "transfers", False),
        ("bob", "suspected-fraud", False),
    ]


@pytest.mark.django_db(transaction=True)
def test_two_agents_racing_on_one_ticket_exactly_one_wins(agent: Any, second_agent: Any, live_model: Any) -> None:
    ticket = services.ticket_ingest(subject="Transfer", body="my transfer has not arrived").ticket
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def act(user: Any, slug: str) -> None:
        client = client_for(user)
        barrier.wait()
        try:
            codes[user.username] = triage(client, ticket, slug).status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=act, args=(agent, "transfers")),
        threading.Thread(target=act, args=(second_agent, "disputes-and-refunds")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [200, 409]
    winner = next(name for name, code in codes.items() if code == 200)
    ticket.refresh_from_db()
    assert ticket.triaged_by.username == winner
    decisions = Decision.objects.all()
    assert decisions.count() == 2
    assert sorted(d.applied for d in decisions) == [False, True]
    assert decisions.get(applied=True).chosen == ticket.category


def test_decisions_are_append_only_in_the_database(agent: Any, ticket: Ticket, categories: Any) -> None:
    result = services.ticket_triage(ticket=ticket, agent=agent, category=categories["transfers"])
    with pytest.raises(DatabaseError), transaction.atomic():
        Decision.objects.filter(pk=result.decision.pk).update(chosen=categories["suspected-fraud"])
    assert Decision.objects.get().chosen.slug == "transfers"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"category": "no-such-category"}, "category"),
        ({}, "category"),
        ({"category": 5}, "category"),
        ({"category": "transfers", "seconds_taken": -1}, "seconds_taken"),
        ({"category": "transfers", "seconds_taken": "slow"}, "seconds_taken"),
        # DRF's FloatField takes these strings; NaN also passes its min and max.
        ({"category": "transfers", "seconds_taken": "nan"}, "seconds_taken"),
        ({"category": "transfers", "seconds_taken": "-Infinity"}, "seconds_taken"),
    ],
)
def test_bad_triage_input_is_refused_and_nothing_recorded(
    agent_client: APIClient, ticket: Ticket, payload: dict[str, Any], field: str
) -> None:
    response = agent_client.post(f"/api/tickets/{ticket.pk}/triage/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert Decision.objects.count() == 0
    ticket.refresh_from_db()
    assert ticket.status == "new"


def test_a_lone_surrogate_as_the_category_is_a_400(agent_client: APIClient, ticket: Ticket) -> None:
    raw = b'{"category": "\\ud800"}'
    response = agent_client.post(f"/api/tickets/{ticket.pk}/triage/", raw, content_type="application/json")
    assert response.status_code == 400 and "lone surrogate" in response.json()["category"][0]
    assert Decision.objects.count() == 0


def test_a_retired_category_cannot_be_chosen(agent_client: APIClient, ticket: Ticket, categories: Any) -> None:
    categories["transfers"].is_active = False
    categories["transfers"].save(update_fields=["is_active"])
    response = triage(agent_client, ticket, "transfers")
    assert response.status_code == 400 and "retired" in response.json()["category"][0]
    assert Decision.objects.count() == 0


def test_triaging_an_unknown_ticket_is_a_404(agent_client: APIClient, categories: Any) -> None:
    assert agent_client.post("/api/tickets/999999/triage/", {"category": "transfers"}, format="json").status_code == 404


def test_only_roles_that_triage_may_triage(
    ticket: Ticket, integration: Any, outsider: Any, supervisor: Any, admin_user: Any
) -> None:
    assert triage(client_for(integration), ticket, "transfers").status_code == 403
    assert triage(client_for(outsider), ticket, "transfers").status_code == 403
    assert triage(APIClient(), ticket, "transfers").status_code == 401
    assert Decision.objects.count() == 0
    assert triage(client_for(supervisor), ticket, "transfers").status_code == 200


def test_a_losing_agent_retrying_the_same_choice_is_stored_once(
    agent_client: APIClient, second_agent: Any, ticket: Ticket
) -> None:
    assert triage(agent_client, ticket, "suspected-fraud").status_code == 200
    bob = client_for(second_agent)
    answers = [triage(bob, ticket, "transfers") for _ in range(3)]  # a client retrying its 409
    assert [a.status_code for a in answers] == [409, 409, 409]
    assert len({a.json()["decision"]["id"] for a in answers}) == 1
    assert triage(bob, ticket, "disputes-and-refunds").status_code == 409  # another choice is another decision
    assert [(d.agent.username, d.chosen.slug, d.applied) for d in Decision.objects.order_by("id")] == [
        ("alice", "suspected-fraud", True),
        ("bob", "transfers", False),
        ("bob", "disputes-and-refunds", False),
    ]


@pytest.mark.parametrize("seconds", [True, False, "4.2", [1], {"s": 1}])
def test_seconds_taken_must_be_a_json_number(agent_client: APIClient, ticket: Ticket, seconds: Any) -> None:
    response = triage(agent_client, ticket, "transfers", seconds_taken=seconds)
    assert response.status_code == 400 and "seconds_taken" in response.json()
    assert Decision.objects.count() == 0
