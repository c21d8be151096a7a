"""Bulk triage: many waiting tickets to one category in one action, each with its own
decision; tickets another agent took first are skipped and reported."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from typing import Any, cast

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from django.db import connection, transaction

from tests.conftest import client_for
from tests.helpers import waiting
from triage import services
from triage.models import Category, Decision, OutboxEvent, Ticket
from triage.reports.models import DecisionFact

URL = "/api/tickets/bulk-triage/"
LIKE = {"suggested": "suspected-fraud", "min_confidence": 0.5}


@pytest.fixture
def storm(categories: dict[str, Category]) -> list[Ticket]:
    """An outage: near-identical card tickets, most of them suggested with confidence."""
    cards = categories["card-not-working"] if "card-not-working" in categories else categories["lost-or-stolen-card"]
    return [
        waiting(f"Card declined {i}", category=cards, confidence=0.5 + i / 40, waited=timedelta(minutes=i))
        for i in range(20)
    ]


@pytest.mark.django_db
def test_each_ticket_gets_its_own_decision_and_one_taken_first_is_reported(
    agent: Any, second_agent: Any, storm: list[Ticket], categories: dict[str, Category]
) -> None:
    fraud = categories["suspected-fraud"]
    services.ticket_triage(ticket=storm[0], agent=second_agent, category=fraud)  # Bob was first on one

    response = client_for(agent).post(
        URL, {"category": "suspected-fraud", "tickets": [t.pk for t in storm[:5]] + [999999]}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["triaged"] == sorted(t.pk for t in storm[1:5])
    assert body["taken"] == [storm[0].pk]
    assert body["missing"] == [999999]
    assert body["detail"].startswith("4 triaged as Suspected fraud, 1 already taken by others, 1 not found")
    mine = Decision.objects.filter(agent=agent)
    assert sorted(mine.values_list("ticket_id", flat=True)) == body["triaged"]  # one each, none for Bob's
    assert all(d.applied and not d.accepted and d.suggested_id for d in mine)
    assert DecisionFact.objects.filter(agent=agent).count() == 4
    assert OutboxEvent.objects.filter(type="ticket.triaged", ticket_id__in=body["triaged"]).count() == 4
    assert Ticket.objects.get(pk=storm[0].pk).triaged_by == second_agent  # left as Bob set it


@pytest.mark.django_db
def test_all_like_this_takes_the_suggestion_above_a_confidence_across_pages(
    agent: Any, storm: list[Ticket], categories: dict[str, Category], settings: Any
) -> None:
    settings.QUEUE_PAGE_SIZE = 3
    other = waiting("Fee", category=categories["fees-and-charges"], confidence=0.99)
    slug = storm[0].live_prediction.suggested.slug
    like = {"suggested": slug, "min_confidence": 0.8}
    expected = sorted(t.pk for t in storm if t.live_prediction.confidence >= 0.8)

    dry = client_for(agent).post(URL, {"category": slug, "like": like, "dry_run": True}, format="json")
    assert dry.status_code == 200 and dry.json()["matching"] == len(expected) == 8
    assert not Decision.objects.exists()

    done = client_for(agent).post(URL, {"category": slug, "like": like}, format="json").json()
    assert done["triaged"] == expected
    assert Decision.objects.filter(accepted=True).count() == 8
    assert Ticket.objects.get(pk=other.pk).status == "new"


@pytest.mark.django_db
def test_all_like_this_stays_within_the_filters(agent: Any, categories: dict[str, Category]) -> None:
    cards = categories["lost-or-stolen-card"]
    chat = waiting("Lost card", category=cards, confidence=0.95, channel="chat")
    waiting("Lost card", category=cards, confidence=0.95, channel="email")
    like = {"suggested": cards.slug, "min_confidence": 0.9, "channel": "chat", "q": "lost"}
    body = client_for(agent).post(URL, {"category": cards.slug, "like": like}, format="json").json()
    assert body["triaged"] == [chat.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"category": "suspected-fraud"}, "tickets"),
        ({"category": "suspected-fraud", "tickets": []}, "tickets"),
        ({"category": "suspected-fraud", "tickets": ["x"]}, "tickets"),
        ({"category": "suspected-fraud", "tickets": [True]}, "tickets"),
        ({"category": "suspected-fraud", "tickets": ["5"]}, "tickets"),
        ({"category": "suspected-fraud", "tickets": [5.0]}, "tickets"),
        ({"category": "suspected-fraud", "tickets": [0]}, "tickets"),
        ({"category": "nope", "tickets": [1]}, "category"),
        ({"category": "suspected-fraud", "tickets": [1], "like": LIKE}, "tickets"),
        ({"category": "suspected-fraud", "like": {**LIKE, "min_confidence": 2}}, "like"),
        ({"category": "suspected-fraud", "like": {**LIKE, "min_confidence": "0.5"}}, "like"),
        ({"category": "suspected-fraud", "like": {**LIKE, "queue": "gone"}}, "like"),
        ({"category": "suspected-fraud", "like": {**LIKE, "age": "eons"}}, "like"),
        ({"category": "suspected-fraud", "tickets": "1,2"}, "tickets"),
        ({"category": "suspected-fraud", "tickets": [1], "dry_run": 0}, "dry_run"),
        ({"category": "suspected-fraud", "like": {**LIKE, "urgent": "yes"}}, "like"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    agent: Any, categories: dict[str, Category], storm: list[Ticket], payload: dict[str, Any], field: str
) -> None:
    response = client_for(agent).post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body
    assert all(isinstance(m, str) for messages in body.values() for m in messages)  # as the schema documents
    assert not Decision.objects.exists()


@pytest.mark.django_db
def test_more_tickets_than_the_limit_is_a_400(agent: Any, storm: list[Ticket], settings: Any) -> None:
    from triage.api import serializers

    limit = cast(Any, serializers.BulkTriageIn().fields["tickets"]).max_length
    response = client_for(agent).post(
        URL, {"category": "suspected-fraud", "tickets": list(range(1, limit + 2))}, format="json"
    )
    assert response.status_code == 400 and "tickets" in response.json()
    settings.BULK_TRIAGE_MAX_TICKETS = 5
    slug = storm[0].live_prediction.suggested.slug
    response = client_for(agent).post(
        URL, {"category": slug, "like": {"suggested": slug, "min_confidence": 0.0}}, format="json"
    )
    assert response.status_code == 400 and "More than 5 tickets match" in response.json()["like"][0]
    assert not Decision.objects.exists()


@pytest.mark.django_db
def test_a_closed_category_is_refused(agent: Any, storm: list[Ticket], categories: dict[str, Category]) -> None:
    fraud = categories["suspected-fraud"]
    fraud.is_active = False
    fraud.save(update_fields=["is_active"])
    response = client_for(agent).post(URL, {"category": "suspected-fraud", "tickets": [storm[0].pk]}, format="json")
    assert response.status_code == 400 and "retired" in response.json()["category"][0]


@pytest.mark.django_db
def test_integrations_and_outsiders_may_not_bulk_triage(integration: Any, outsider: Any, storm: list[Ticket]) -> None:
    for user in (integration, outsider):
        response = client_for(user).post(URL, {"category": "suspected-fraud", "tickets": [storm[0].pk]}, format="json")
        assert response.status_code == 403
    assert not Decision.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_queue_pages_hear_of_a_bulk_triage_once_after_commit(
    agent: Any, storm: list[Ticket], categories: dict[str, Category], settings: Any
) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    layer = channel_layers["default"]
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("queue", channel)
    ids = [t.pk for t in storm]

    services.tickets_triage_bulk(ticket_ids=ids, agent=agent, category=categories["suspected-fraud"])

    async def receive_all() -> list[dict[str, Any]]:
        got = []
        while True:
            try:
                got.append(await asyncio.wait_for(layer.receive(channel), 0.5))
            except TimeoutError:
                return got

    batches = async_to_sync(receive_all)()
    channel_layers.backends.clear()
    messages = [event for batch in batches for event in json.loads(batch["text"])["events"]]
    assert [m["event"] for m in messages] == ["tickets_removed"]
    assert sorted(messages[0]["ticket_ids"]) == sorted(ids)
    assert messages[0]["agent"] == agent.username


@pytest.mark.django_db(transaction=True)
def test_a_ticket_another_agent_is_triaging_right_now_is_skipped_not_waited_for(
    agent: Any, second_agent: Any, storm: list[Ticket], categories: dict[str, Category]
) -> None:
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SQLite has no row locks: one writer at a time")
    held, release = threading.Event(), threading.Event()

    def bob_is_triaging() -> None:
        with transaction.atomic():
            list(Ticket.objects.select_for_update().filter(pk=storm[0].pk))
            held.set()
            release.wait(10)
        connection.close()

    bob = threading.Thread(target=bob_is_triaging)
    bob.start()
    try:
        assert held.wait(10)
        result = services.tickets_triage_bulk(
            ticket_ids=[t.pk for t in storm[:3]], agent=agent, category=categories["suspected-fraud"]
        )
    finally:
        release.set()
        bob.join(10)
    assert result.taken == [storm[0].pk]
    assert result.triaged == sorted(t.pk for t in storm[1:3])
    assert Ticket.objects.get(pk=storm[0].pk).status == "new"


@pytest.mark.django_db
def test_a_bulk_triage_costs_as_many_queries_for_twenty_tickets_as_for_two(
    agent: Any, storm: list[Ticket], categories: dict[str, Category], settings: Any
) -> None:
    from django.test.utils import CaptureQueriesContext

    settings.REPORTS_QC_SHARE = 0  # no random quality-check sample in either batch
    fraud = categories["suspected-fraud"]
    counts = []
    for batch in (storm[:2], storm[2:]):
        with CaptureQueriesContext(connection) as queries:
            result = services.tickets_triage_bulk(ticket_ids=[t.pk for t in batch], agent=agent, category=fraud)
        assert len(result.triaged) == len(batch)
        counts.append(len(queries))
    assert counts[1] <= counts[0], counts  # the first may also read a cached model vocabulary
    events = OutboxEvent.objects.filter(ticket_id__in=[t.pk for t in storm], type="ticket.triaged")
    assert list(events.values_list("sequence", flat=True)) == [1] * len(storm)  # each ticket's first event
    assert all(e.payload["data"]["decision"]["suggested"] for e in events)
    assert DecisionFact.objects.filter(agent=agent).count() == len(storm)
