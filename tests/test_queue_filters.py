"""The whole queue on the agents' page: search, filters, sorts and pages, kept in the URL."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from tests.helpers import waiting
from triage.models import Category, Ticket
from triage.selectors import QueueView, queue_page, queue_view_parse

pytestmark = pytest.mark.django_db


def shown(client: Client, query: str = "") -> tuple[list[int], str]:
    html = client.get("/" + query).content.decode()
    ids = [int(i) for i in re.findall(r'<li class="ticket[^"]*" id="ticket-(\d+)"', html)]
    count = re.search(r'<strong id="queue-count">(\d+)</strong>', html)
    assert count is not None
    return ids, count.group(1)


@pytest.fixture
def page(agent: Any) -> Client:
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def mixed(categories: dict[str, Category]) -> dict[str, Ticket]:
    fees, cards = categories["fees-and-charges"], categories["lost-or-stolen-card"]
    return {
        "fee": waiting("Monthly fee", category=fees, confidence=0.95, body="why was I charged twice"),
        "card": waiting("Card lost", category=cards, confidence=0.6, channel="chat", waited=timedelta(hours=2)),
        "unsure": waiting("Something", category=fees, confidence=0.3, needs_human=True, language="es"),
        "urgent": waiting("Stolen wallet", category=cards, confidence=0.8, urgent=True, waited=timedelta(days=2)),
        "bare": waiting("No model", category=None, channel="phone", waited=timedelta(hours=5)),
    }


def test_the_search_reads_subject_and_body_and_the_count_matches_it(page: Client, mixed: dict[str, Ticket]) -> None:
    assert shown(page, "?q=WALLET") == ([mixed["urgent"].pk], "1")  # the subject, any case
    assert shown(page, "?q=charged+twice") == ([mixed["fee"].pk], "1")  # the body
    assert shown(page, "?q=nothing+like+this") == ([], "0")
    assert shown(page)[1] == "5"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?category=fees-and-charges", ["fee", "unsure"]),
        ("?channel=chat", ["card"]),
        ("?language=es", ["unsure"]),
        ("?human=yes", ["unsure", "bare"]),
        ("?human=no", ["urgent", "fee", "card"]),
        ("?urgent=1", ["urgent"]),
        ("?age=under-1h", ["fee", "unsure"]),
        ("?age=over-1h", ["urgent", "card", "bare"]),
        ("?age=over-4h", ["urgent", "bare"]),
        ("?age=over-1d", ["urgent"]),
        ("?category=lost-or-stolen-card&channel=chat", ["card"]),
    ],
)
def test_each_filter_narrows_the_queue_and_its_count(
    page: Client, mixed: dict[str, Ticket], query: str, expected: list[str]
) -> None:
    ids, count = shown(page, query)
    assert sorted(ids) == sorted(mixed[k].pk for k in expected)
    assert count == str(len(expected))


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["urgent", "unsure", "fee", "card", "bare"]),
        ("oldest", ["urgent", "bare", "card", "fee", "unsure"]),
        ("confident", ["urgent", "fee", "card", "unsure", "bare"]),  # urgent first, unsuggested last
        ("unsure", ["urgent", "unsure", "card", "fee", "bare"]),
    ],
)
def test_the_sorts_keep_urgent_tickets_first(
    page: Client, mixed: dict[str, Ticket], sort: str, expected: list[str]
) -> None:
    ids, _ = shown(page, f"?sort={sort}")
    assert ids == [mixed[k].pk for k in expected]


def test_every_waiting_ticket_is_reachable_page_by_page_with_the_filters_kept(
    page: Client, categories: dict[str, Category], settings: Any
) -> None:
    settings.QUEUE_PAGE_SIZE = 3
    fees = categories["fees-and-charges"]
    made = [waiting(f"Fee {i}", category=fees, waited=timedelta(minutes=i + 1)) for i in range(7)]
    waiting("Other", category=categories["lost-or-stolen-card"])
    seen = []
    for number in (1, 2, 3):
        html = page.get(f"/?category=fees-and-charges&page={number}").content.decode()
        seen += [int(i) for i in re.findall(r'id="ticket-(\d+)"', html)]
        assert f"Page {number} of 3" in html
        assert '<strong id="queue-count">7</strong>' in html
        if number < 3:
            assert f'href="?category=fees-and-charges&amp;page={number + 1}"' in html
    assert seen == [t.pk for t in made]  # newest first, each once
    assert "Page 9 of 3" in page.get("/?category=fees-and-charges&page=9").content.decode()  # past the end: empty


def test_the_form_shows_the_view_the_url_asks_for(page: Client, mixed: dict[str, Ticket]) -> None:
    html = page.get("/?q=fee&channel=chat&sort=oldest&urgent=1&age=over-1h").content.decode()
    assert 'name="q" value="fee"' in html
    assert '<option value="chat" selected>' in html
    assert '<option value="oldest" selected>' in html
    assert '<option value="over-1h" selected>' in html
    assert 'name="urgent" value="1" checked' in html
    assert "Clear filters" in html


def test_unknown_values_in_a_bookmark_mean_no_filter(page: Client, mixed: dict[str, Ticket]) -> None:
    assert shown(page, "?category=gone&channel=fax&sort=sideways&page=abc&age=eons")[1] == "5"


def test_the_view_reads_back_as_the_same_url() -> None:
    view = queue_view_parse({"q": "  card   lost ", "sort": "oldest", "page": "2", "urgent": "1"})
    assert view == QueueView(q="card lost", sort="oldest", page=2, urgent=True)
    assert view.params() == {"q": "card lost", "sort": "oldest", "page": "2", "urgent": "1"}


def test_a_row_carries_what_the_page_filters_pushes_with(page: Client, mixed: dict[str, Ticket]) -> None:
    html = page.get("/").content.decode()
    row = re.search(rf'<li [^>]*id="ticket-{mixed["card"].pk}"[^>]*>', html)
    assert row is not None
    tag = row.group(0)
    for attribute in (
        'data-choice="lost-or-stolen-card"',
        'data-confidence="0.6000"',
        'data-human="0"',
        'data-channel="chat"',
        'data-language="en"',
    ):
        assert attribute in tag


def test_blind_tickets_stay_out_of_a_filter_on_the_hidden_suggestion(
    page: Client, categories: dict[str, Category]
) -> None:
    fees = categories["fees-and-charges"]
    seen = waiting("Seen", category=fees)
    waiting("Blind", category=fees, blind=True)
    assert shown(page, "?category=fees-and-charges") == ([seen.pk], "1")


def test_the_selector_counts_what_it_lists(categories: dict[str, Category]) -> None:
    fees = categories["fees-and-charges"]
    for i in range(4):
        waiting(f"Fee {i}", category=fees, channel="chat" if i % 2 else "email")
    rows, count = queue_page(limit=10, view=QueueView(channel="chat"))
    assert len(rows) == count == 2


def test_the_auto_triaged_lane_says_when_it_is_empty(page: Client) -> None:
    html = page.get("/").content.decode()
    assert re.search(r'<p id="auto-empty" class="auto-empty">Nothing auto-triaged recently', html)
