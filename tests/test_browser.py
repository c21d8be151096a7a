"""The real queue page in headless Chromium (Debian's package, never a downloaded browser)."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import requests
from django.db import connection
from playwright.sync_api import Browser, Page, expect

from tests.conftest import api_key
from tests.helpers import SELECTED, log_in, post_ticket
from triage.models import Decision, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_posted_ticket_appears_live_and_a_keyboard_accept_removes_it(
    browser: Browser, asgi_server: str, agent: Any, second_agent: Any, integration: Any, live_model: Any
) -> None:
    alice = log_in(browser, asgi_server, "alice", "pw-alice")
    bob = log_in(browser, asgi_server, "bob", "pw-bob")
    expect(alice.locator("#queue-empty")).to_be_visible()

    ticket_id = post_ticket(
        asgi_server,
        integration,
        {"subject": "<script>alert(1)</script>", "body": "I lost my card on the bus, please block it"},
    )

    for page in (alice, bob):
        row = page.locator(f"#ticket-{ticket_id}")
        expect(row).to_be_visible(timeout=2_000)  # pushed over the websocket, no reload
        expect(row.locator(".subject")).to_have_text("<script>alert(1)</script>")  # shown as text
        expect(row.locator(".choice.suggested")).to_contain_text("Lost or stolen card")
        expect(page.locator("#queue-count")).to_have_text("1")

    expect(alice.locator(f"#ticket-{ticket_id}")).to_have_class(SELECTED)
    alice.keyboard.press("Enter")

    expect(alice.locator(f"#ticket-{ticket_id}")).to_have_count(0, timeout=2_000)
    expect(bob.locator(f"#ticket-{ticket_id}")).to_have_count(0, timeout=2_000)  # gone from every queue
    expect(bob.locator("#queue-count")).to_have_text("0")
    decision = Decision.objects.get(ticket_id=ticket_id)
    assert decision.agent == agent and decision.accepted and decision.chosen.slug == "lost-or-stolen-card"
    assert decision.seconds_taken is not None and decision.seconds_taken >= 0
    assert Ticket.objects.get(pk=ticket_id).status == "triaged"


def test_an_agent_picks_another_category_by_digit_and_by_typing(
    browser: Browser, asgi_server: str, agent: Any, live_model: Any
) -> None:
    from triage import services

    first = services.ticket_ingest(subject="Transfer", body="my transfer to my landlord has not arrived").ticket
    second = services.ticket_ingest(subject="Fee", body="why was I charged a monthly fee").ticket
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    expect(page.locator(f"#ticket-{second.pk}")).to_have_class(SELECTED)  # newest first, selected

    page.keyboard.press("2")  # the first alternative
    expect(page.locator(f"#ticket-{second.pk}")).to_have_count(0)
    expect(page.locator(f"#ticket-{first.pk}")).to_have_class(SELECTED)

    page.keyboard.press("/")
    page.keyboard.type("fraud")
    page.keyboard.press("Enter")
    expect(page.locator(f"#ticket-{first.pk}")).to_have_count(0)

    decisions = {d.ticket_id: d for d in Decision.objects.all()}
    assert not decisions[second.pk].accepted
    assert decisions[second.pk].chosen.slug == second.live_prediction.alternatives[0]["category"]
    assert decisions[first.pk].chosen.slug == "suspected-fraud"


def _triage_as(base_url: str, agent: Any, ticket: Ticket, slug: str) -> None:
    """Another agent's decision, over HTTP (this thread runs Playwright's event loop)."""
    key = api_key(agent)
    response = requests.post(
        f"{base_url}/api/tickets/{ticket.pk}/triage/",
        json={"category": slug},
        headers={"Authorization": f"Token {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _eight_waiting_five_shown(browser: Browser, base_url: str, settings: Any) -> tuple[list[Ticket], Page]:
    """Eight fee tickets waiting, and Alice's queue page showing the newest five."""
    from triage import services

    settings.QUEUE_PAGE_SIZE = 5
    made = [services.ticket_ingest(subject=f"Fee {i}", body="why was I charged a monthly fee").ticket for i in range(8)]
    page = log_in(browser, base_url, "alice", "pw-alice")
    expect(page.locator("li.ticket")).to_have_count(5)
    expect(page.locator("#queue-count")).to_have_text("8")
    return made, page


def test_the_queue_fetches_more_rows_as_others_clear_the_first_page_and_only_tells_of_its_own(
    browser: Browser, asgi_server: str, agent: Any, second_agent: Any, live_model: Any, settings: Any
) -> None:
    # Found by review: with more waiting than a page holds, the page said "empty" while
    # its count said 25 more, and it toasted every ticket the agent had never touched.
    made, page = _eight_waiting_five_shown(browser, asgi_server, settings)
    fees = made[0].live_prediction.suggested.slug
    for ticket in made[3:]:  # the five shown, newest first: another agent takes them
        _triage_as(asgi_server, second_agent, ticket, fees)

    expect(page.locator("#queue-count")).to_have_text("3")
    expect(page.locator("li.ticket")).to_have_count(3, timeout=5_000)  # the rest, fetched
    expect(page.locator("#queue-empty")).to_be_hidden()
    # Alice never chose any of them (the page selected each by itself): no toasts.
    expect(page.locator("#toasts .toast")).to_have_count(0)


def test_a_ticket_triaged_beyond_the_rows_shown_still_leaves_the_count(
    browser: Browser, asgi_server: str, agent: Any, second_agent: Any, live_model: Any, settings: Any
) -> None:
    made, page = _eight_waiting_five_shown(browser, asgi_server, settings)
    _triage_as(asgi_server, second_agent, made[0], made[0].live_prediction.suggested.slug)  # the oldest: not shown
    expect(page.locator("#queue-count")).to_have_text("7")
    expect(page.locator("li.ticket")).to_have_count(5)


def test_a_ticket_triaged_while_the_rows_are_fetched_does_not_come_back(
    browser: Browser, asgi_server: str, agent: Any, second_agent: Any, live_model: Any, settings: Any
) -> None:
    # The rows the page fetches may have been read before another agent took a ticket
    # whose removal the page has already applied: replayed on the answer, it stays gone.
    made, page = _eight_waiting_five_shown(browser, asgi_server, settings)
    fees = made[0].live_prediction.suggested.slug
    taken_meanwhile = made[6]

    fetches: list[str] = []

    def stale_answer(route: Any) -> None:
        fetches.append(route.request.url)
        if len(fetches) > 1:  # only the stale answer may land: it alone must set things right
            route.abort()
            return
        answer = route.fetch()  # the server reads the queue now...
        _triage_as(asgi_server, second_agent, taken_meanwhile, fees)  # ...then another agent takes a shown ticket
        expect(page.locator(f"#ticket-{taken_meanwhile.pk}")).to_have_count(0)  # its removal reaches the page first
        route.fulfill(response=answer)

    page.route(re.compile(r"/queue/rows/"), stale_answer)
    with page.expect_response(re.compile(r"/queue/rows/")):
        _triage_as(asgi_server, second_agent, made[7], fees)  # the page tops up its rows: the fetch above
    # The stale answer is applied: three rows were left before it came, it brings the
    # next one (and the one taken meanwhile, which must stay gone).
    expect(page.locator("li.ticket")).to_have_count(4)
    expect(page.locator("#queue-count")).to_have_text("6")
    expect(page.locator(f"#ticket-{taken_meanwhile.pk}")).to_have_count(0)
    page.close()


def test_enter_on_a_focused_control_is_the_controls_own_not_an_accept(
    browser: Browser, asgi_server: str, agent: Any, live_model: Any
) -> None:
    from triage import services
    from triage.models import Queue

    Queue.objects.get_or_create(slug="cards", defaults={"name": "Cards"})  # migrations may have made it
    ticket = services.ticket_ingest(subject="Card", body="I lost my card on the bus").ticket
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    expect(page.locator(f"#ticket-{ticket.pk}")).to_have_class(SELECTED)

    # The select takes its own arrow keys: they step through the queues without leaving
    # the page (found by review: the first arrow navigated), and Enter shows that queue.
    page.focus("#watch-queue")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#watch-queue")).not_to_have_value("")
    page.wait_for_timeout(500)  # time for a navigation that must not come
    assert "queue=" not in page.url
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]queue=[\w-]+"))
    assert Decision.objects.count() == 0
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)

    # Enter on the focused "Log out" button logs out; it does not accept the selected ticket.
    page.goto(asgi_server + "/")
    expect(page.locator(f"#ticket-{ticket.pk}")).to_have_class(SELECTED)
    page.focus("form[action$='logout/'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/accounts/(login|logout)/"))
    assert Decision.objects.count() == 0
    assert Ticket.objects.get(pk=ticket.pk).status == "new"


def test_the_page_stops_live_updates_when_its_session_ends(
    browser: Browser, asgi_server: str, agent: Any, integration: Any, monkeypatch: Any
) -> None:
    from django.contrib.sessions.models import Session

    from triage import consumers

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)  # the server runs in this process
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    Session.objects.all().delete()  # signed out elsewhere (or the session expired)
    ticket_id = post_ticket(asgi_server, integration, {"subject": "After", "body": "not for a signed-out page"})
    expect(page.locator("#live-status")).to_have_attribute("data-state", "down", timeout=5_000)
    expect(page.locator("#live-status")).to_contain_text("signed out")
    expect(page.locator(f"#ticket-{ticket_id}")).to_have_count(0)


def test_an_undo_after_the_session_ended_goes_to_the_login_page_and_changes_nothing(
    browser: Browser, asgi_server: str, agent: Any, admin_user: Any, integration: Any, categories: Any, live_model: Any
) -> None:
    from django.contrib.sessions.models import Session

    from triage import serving
    from triage.taxonomy import services as tax

    def set_threshold() -> None:  # off this thread, whose event loop is Playwright's: it broadcasts
        try:
            lost = categories["lost-or-stolen-card"]
            tax.category_threshold_set(actor=admin_user, category_id=lost.pk, version=1, threshold="0.3")
        finally:
            connection.close()

    worker = threading.Thread(target=set_threshold)
    worker.start()
    worker.join()
    serving.reset()
    ticket_id = post_ticket(asgi_server, integration, {"subject": "Card stolen", "body": "my wallet was stolen"})
    assert Ticket.objects.get(pk=ticket_id).label_source == "auto"
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    Session.objects.all().delete()  # signed out elsewhere: the undo's POST is redirected to the login page
    page.locator(f"#auto-{ticket_id} .undo-auto").click(force=True)  # the lane may be folded
    # The login page's 200 is not a success: the page must not say "Back in the queue."
    page.wait_for_url(re.compile(r"/accounts/login/\?next=%2F"))
    assert Ticket.objects.get(pk=ticket_id).label_source == "auto"


def test_an_outsider_gets_403_on_the_queue_page(browser: Browser, asgi_server: str, outsider: Any) -> None:
    page = browser.new_page()
    page.goto(asgi_server + "/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "pw-olga")
    with page.expect_response(lambda r: r.url.rstrip("/") == asgi_server) as info:
        page.click("button[type=submit]")
    assert info.value.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
