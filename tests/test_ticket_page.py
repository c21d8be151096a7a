"""The ticket page (/tickets/<id>/): what every role sees of one ticket, opened from
the queue row."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from triage import services
from triage.integrations import services as integrations
from triage.models import Category, Ticket


def page(user: Any, ticket: Ticket) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/tickets/{ticket.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_text_the_suggestion_every_prediction_and_decision_and_the_source_link(
    live_model: Any, agent: Any, second_agent: Any, supervisor: Any
) -> None:
    integrations.source_link_set(source="zendesk", template="https://acme.zendesk.com/agent/tickets/{external_id}")
    ticket = services.ticket_ingest(
        subject="<b>Card stolen</b>",
        body="My wallet was stolen on the train with my card inside",
        source="zendesk",
        external_id="Z 7",
        channel="chat",
        customer_ref="CUST-1",
    ).ticket
    lost = Category.objects.get(slug="lost-or-stolen-card")
    services.ticket_triage(ticket=ticket, agent=agent, category=lost)
    services.ticket_triage(ticket=ticket, agent=second_agent, category=Category.objects.get(slug="card-declined"))

    html = page(supervisor, ticket)

    assert "&lt;b&gt;Card stolen&lt;/b&gt;" in html and "<b>Card stolen</b>" not in html  # escaped
    assert "My wallet was stolen on the train" in html and "CUST-1" in html and "Chat" in html
    assert 'href="https://acme.zendesk.com/agent/tickets/Z%207"' in html
    suggestion = re.search(r'id="suggestion".*?</section>', html, re.S)
    assert suggestion is not None and "Lost or stolen card" in suggestion.group()
    alternatives = ticket.live_prediction.alternatives
    names = dict(Category.objects.values_list("slug", "name"))
    assert all(names[a["category"]] in suggestion.group() for a in alternatives)
    assert "<mark>" in suggestion.group()  # the words that weighed
    decisions = re.search(r'id="decisions".*?</table>', html, re.S)
    assert decisions is not None
    assert "alice" in decisions.group() and "bob" in decisions.group()
    assert f"v{live_model.version}" in decisions.group() and "another agent decided first" in decisions.group()
    assert f"model v{live_model.version}" in html  # the prediction's model version


def test_similar_tickets_are_listed_with_their_outcomes(history: Any, live_model: Any, agent: Any) -> None:
    ticket = services.ticket_ingest(subject="Lost card", body="I lost my card, please block it").ticket

    html = page(agent, ticket)

    similar = re.search(r'id="similar".*?</section>', html, re.S)
    assert similar is not None
    rows = re.findall(r'<a href="/tickets/(\d+)/">', similar.group())
    assert 1 <= len(rows) <= 5 and str(ticket.pk) not in rows
    assert "(imported history)" in similar.group()
    top = Ticket.objects.get(pk=rows[0])
    assert top.category.slug == "lost-or-stolen-card"


def test_agents_see_no_suggestion_on_a_waiting_blind_ticket_but_supervisors_do(
    live_model: Any, agent: Any, supervisor: Any, settings: Any
) -> None:
    settings.BLIND_SHARE = 1.0
    ticket = services.ticket_ingest(subject="Card stolen", body="My card was stolen").ticket
    assert ticket.blind

    for_agent, for_supervisor = page(agent, ticket), page(supervisor, ticket)

    assert "blind slice" in for_agent and "Lost or stolen card" not in for_agent
    assert "Lost or stolen card" in for_supervisor


def test_the_queue_row_opens_the_ticket_page_and_links_to_its_source(live_model: Any, agent: Any) -> None:
    integrations.source_link_set(source="crm", template="https://crm.example/cases/{external_id}")
    ticket = services.ticket_ingest(
        subject="Card stolen", body="My card was stolen", source="crm", external_id="42"
    ).ticket
    client = Client()
    client.force_login(agent)

    html = client.get("/").content.decode()

    row = re.search(rf'<li class="ticket[^"]*" id="ticket-{ticket.pk}".*?</li>', html, re.S)
    assert row is not None
    assert f'href="/tickets/{ticket.pk}/"' in row.group()
    assert 'href="https://crm.example/cases/42"' in row.group()
    assert client.get("/tickets/999999/").status_code == 404
