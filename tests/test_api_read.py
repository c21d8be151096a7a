"""Reading tickets and categories, and the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import client_for
from triage import services
from triage.api.serializers import TicketOut
from triage.models import Category, Ticket
from triage.selectors import with_live_prediction
from triage.taxonomy import rules


def test_listing_filters_by_status_and_category_and_paginates(
    agent: Any, agent_client: APIClient, live_model: Any, categories: dict[str, Category]
) -> None:
    tickets = [services.ticket_ingest(subject="s", body=f"my transfer {i} is late").ticket for i in range(5)]
    services.ticket_triage(ticket=tickets[0], agent=agent, category=categories["transfers"])
    services.ticket_triage(ticket=tickets[1], agent=agent, category=categories["suspected-fraud"])

    page = agent_client.get("/api/tickets/", {"page_size": 2}).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert [t["id"] for t in page["results"]] == [tickets[4].pk, tickets[3].pk]  # newest first

    new = agent_client.get("/api/tickets/", {"status": "new"}).json()
    assert {t["id"] for t in new["results"]} == {t.pk for t in tickets[2:]}
    fraud = agent_client.get("/api/tickets/", {"category": "suspected-fraud"}).json()
    assert [t["id"] for t in fraud["results"]] == [tickets[1].pk]
    assert fraud["results"][0]["triaged_by"] == "alice"


def test_bad_filters_are_a_400_naming_the_parameter(agent_client: APIClient, categories: Any) -> None:
    assert "status" in agent_client.get("/api/tickets/", {"status": "lost"}).json()
    assert "category" in agent_client.get("/api/tickets/", {"category": "nope"}).json()


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "²"])
def test_a_page_that_is_not_a_positive_number_is_a_400_naming_it(agent_client: APIClient, page: str) -> None:
    response = agent_client.get("/api/tickets/", {"page": page})
    assert response.status_code == 400 and "page" in response.json()


def test_a_page_past_the_last_is_not_found_and_the_first_and_last_pages_are_served(
    agent_client: APIClient, categories: Any
) -> None:
    assert agent_client.get("/api/tickets/", {"page": "99"}).status_code == 404
    # Past Python's 4,300-digit limit for reading an integer: still just past the end.
    assert agent_client.get("/api/tickets/", {"page": "9" * 5000}).status_code == 404
    assert agent_client.get("/api/tickets/", {"page": "1"}).status_code == 200
    assert agent_client.get("/api/tickets/", {"page": "last"}).status_code == 200


def test_a_ticket_reads_back_with_its_suggestion(agent_client: APIClient, live_model: Any) -> None:
    ticket = services.ticket_ingest(subject="<b>bold</b>", body="my card was declined at the shop").ticket
    body = agent_client.get(f"/api/tickets/{ticket.pk}/").json()
    assert body["subject"] == "<b>bold</b>"  # JSON carries the text as data, not markup
    assert body["suggestion"]["category"] == "card-declined"
    assert agent_client.get("/api/tickets/424242/").status_code == 404


def test_the_ticket_shape_written_out_is_the_declared_fields_shape(
    live_model: Any, agent: Any, admin_user: Any, categories: dict[str, Category]
) -> None:
    cards = categories["lost-or-stolen-card"]
    services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card", external_id="x-1")
    services.ticket_ingest(subject="", body="Ça ne marche pas <script>", customer_ref="C-9")
    blind = services.ticket_ingest(subject="blind", body="I lost my card").ticket
    Ticket.objects.filter(pk=blind.pk).update(blind=True)
    decided = services.ticket_ingest(subject="Card declined", body="declined at the shop").ticket
    services.ticket_triage(ticket=decided, agent=agent, category=cards)
    rules.rule_create(actor=admin_user, name="ATM", field="body", kind="contains", pattern="atm", category=cards)
    services.ticket_ingest(subject="ATM", body="the atm kept my card", source="chat")
    Ticket.objects.create(subject="no model", body="imported", received_at=decided.received_at)

    tickets = list(with_live_prediction(Ticket.objects.order_by("pk")))
    assert len(tickets) == 6
    shapes = [(TicketOut().to_representation(t), TicketOut().fields_representation(t)) for t in tickets]
    for fast, reference in shapes:
        assert fast == reference
    kinds = {(s["suggestion"] or {}).get("source", "none")[:5] for s, _ in shapes}
    assert kinds == {"model", "rule:", "none"}  # all three kinds of suggestion were compared
    assert any(s["triaged_by"] == agent.username and s["category"] for s, _ in shapes)


def test_categories_list_the_taxonomy(agent_client: APIClient, categories: dict[str, Category]) -> None:
    body = agent_client.get("/api/categories/").json()
    assert {c["slug"] for c in body} == set(categories)
    assert all(c["is_active"] and c["name"] for c in body)


def test_reading_requires_a_role(outsider: Any, categories: Any) -> None:
    assert APIClient().get("/api/categories/").status_code == 401
    assert client_for(outsider).get("/api/categories/").status_code == 403
    assert client_for(outsider).get("/api/tickets/").status_code == 403


def test_the_openapi_schema_describes_the_ingest_endpoint(agent_client: APIClient) -> None:
    response = agent_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].endswith("json") else None
    text = response.content.decode()
    assert "/api/tickets/" in text and "TicketIn" in text
    assert schema is None or "post" in schema["paths"]["/api/tickets/"]


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "1.5", "²", "9" * 20, "%20"])
def test_a_ticket_id_that_is_not_a_whole_number_is_a_json_400_naming_it(
    agent_client: APIClient, categories: Any, raw: str
) -> None:
    for path in (f"/api/tickets/{raw}/", f"/api/tickets/{raw}/triage/"):
        response = (
            agent_client.post(path, {"category": "transfers"}, format="json")
            if "triage" in path
            else (agent_client.get(path))
        )
        assert response.status_code == 400 and response["Content-Type"] == "application/json", (path, response)
        assert "ticket_id" in response.json()


def test_an_unknown_api_path_is_a_json_404(agent_client: APIClient) -> None:
    response = agent_client.get("/api/nothing-here/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "query",
    [
        "status=",
        "category=",
        "page_size=0",
        "page_size=201",
        "page_size=x",
        "page=1&page=2",
        "status=new&status=triaged",
    ],
)
def test_an_empty_repeated_or_out_of_range_query_parameter_is_a_400_naming_it(
    agent_client: APIClient, categories: Any, query: str
) -> None:
    response = agent_client.get(f"/api/tickets/?{query}")
    assert response.status_code == 400 and query.split("=")[0] in response.json(), response.content


def test_categories_can_be_asked_for_active_or_closed_ones_only(
    agent_client: APIClient, categories: dict[str, Category]
) -> None:
    Category.objects.filter(slug="transfers").update(is_active=False)
    active = agent_client.get("/api/categories/", {"active": "true"}).json()
    closed = agent_client.get("/api/categories/", {"active": "false"}).json()
    assert {c["slug"] for c in active} == set(categories) - {"transfers"}
    assert [c["slug"] for c in closed] == ["transfers"]
    for bad in ("", "yes", "1"):
        assert agent_client.get("/api/categories/", {"active": bad}).status_code == 400
