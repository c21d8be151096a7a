"""The filtered queue and bulk triage in headless Chromium, on a desk and on a phone."""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers import SELECTED, log_in, post_ticket, waiting
from triage.models import Category, Decision, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Page, name: str, full_page: bool = False) -> None:
    """A screenshot to look at by eye: queue-<name>.png in the temporary directory."""
    page.screenshot(path=str(Path(tempfile.gettempdir()) / f"queue-{name}.png"), full_page=full_page)


def test_a_filtered_view_lives_in_the_url_and_pushes_outside_it_stay_out(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    integration: Any,
    live_model: Any,
) -> None:
    cards = Category.objects.get(slug="lost-or-stolen-card")
    in_chat = waiting("Card gone", category=cards, channel="chat")
    waiting("Card gone too", category=cards, channel="email")
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    expect(page.locator("#queue-count")).to_have_text("2")

    page.select_option("select[name=channel]", "chat")  # a mouse pick applies at once
    page.wait_for_url(re.compile(r"\?channel=chat$"))
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("li.ticket")).to_have_count(1)
    expect(page.locator(f"#ticket-{in_chat.pk}")).to_be_visible()
    expect(page.locator("#queue-count")).to_have_text("1")
    expect(page.locator("#count-label")).to_have_text("match")

    by_mail = post_ticket(
        asgi_server, integration, {"subject": "Lost card", "body": "I lost my card", "channel": "email"}
    )
    by_chat = post_ticket(
        asgi_server, integration, {"subject": "Lost card", "body": "I lost my card", "channel": "chat"}
    )
    expect(page.locator(f"#ticket-{by_chat}")).to_be_visible(timeout=5_000)  # pushes arrive in order
    expect(page.locator(f"#ticket-{by_mail}")).to_have_count(0)
    expect(page.locator("#queue-count")).to_have_text("2")

    page.fill("#queue-search", "gone")
    page.press("#queue-search", "Enter")
    page.wait_for_url(re.compile(r"\?q=gone&channel=chat$"))
    expect(page.locator("li.ticket")).to_have_count(1)
    shot(page, "filtered", full_page=True)
    page.close()


def _storm(n: int, cards: Category, confidence: float = 0.95) -> list[Ticket]:
    return [
        waiting(f"Card declined at the shop {i}", category=cards, confidence=confidence, waited=timedelta(minutes=i))
        for i in range(n)
    ]


def test_rows_picked_by_x_and_shift_click_are_triaged_together_and_a_taken_one_is_reported(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    second_agent: Any,
    categories: dict[str, Category],
) -> None:
    made = _storm(5, categories["lost-or-stolen-card"])  # newest first on the page: made[0] on top
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    expect(page.locator(f"#ticket-{made[0].pk}")).to_have_class(SELECTED)

    page.keyboard.press("x")  # the focused row
    page.locator(f"#ticket-{made[3].pk} input.pick").click(modifiers=["Shift"])  # ...down to the fourth
    expect(page.locator("#bulk-summary")).to_have_text("4 selected")
    expect(page.locator("li.ticket.picked")).to_have_count(4)
    shot(page, "bulk-picked", full_page=True)

    # Bob takes one of them before the page hears of it.
    Ticket.objects.filter(pk=made[2].pk).update(
        status="triaged", category=categories["suspected-fraud"], triaged_by=second_agent
    )
    page.select_option("#bulk-category", "suspected-fraud")
    page.click("#bulk-apply")

    expect(page.locator("#toasts .toast")).to_contain_text("3 triaged as Suspected fraud, 1 already taken by others")
    expect(page.locator("li.ticket")).to_have_count(1)
    expect(page.locator(f"#ticket-{made[4].pk}")).to_be_visible()
    expect(page.locator("#bulk-bar")).to_be_hidden()
    expect(page.locator("#queue-count")).to_have_text("1")
    assert sorted(Decision.objects.values_list("ticket_id", flat=True)) == sorted(
        t.pk for t in (made[0], made[1], made[3])
    )
    shot(page, "bulk-done", full_page=True)
    page.close()


def test_all_like_this_triages_every_page_of_the_storm_in_one_action(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    second_agent: Any,
    categories: dict[str, Category],
    settings: Any,
) -> None:
    settings.QUEUE_PAGE_SIZE = 4
    cards = categories["lost-or-stolen-card"]
    storm = _storm(9, cards)
    unsure = waiting("Card declined?", category=cards, confidence=0.5)
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    other = log_in(browser, asgi_server, "bob", "pw-bob")
    expect(page.locator("#like-bar")).to_be_visible()
    expect(page.locator("#like-category")).to_have_text("Lost or stolen card")

    page.select_option("#like-min", "0.9")
    page.click("#like-select")
    expect(page.locator("#bulk-summary")).to_contain_text("All 9 like this")
    expect(page.locator("#bulk-category")).to_have_value("lost-or-stolen-card")
    shot(page, "like", full_page=True)
    page.click("#bulk-apply")

    expect(page.locator("#toasts .toast")).to_contain_text("9 triaged as Lost or stolen card")
    expect(page.locator("#queue-count")).to_have_text("1")
    expect(page.locator(f"#ticket-{unsure.pk}")).to_be_visible()
    expect(other.locator("#queue-count")).to_have_text("1")  # one push for the nine, on every page
    expect(other.locator("li.ticket")).to_have_count(1)
    assert Decision.objects.filter(accepted=True, agent=agent).count() == len(storm)
    page.close()
    other.close()


def test_the_selected_row_shows_on_an_urgent_ticket(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    categories: dict[str, Category],
) -> None:
    cards = categories["lost-or-stolen-card"]
    first = waiting("Urgent one", category=cards, urgent=True)
    second = waiting("Urgent two", category=cards, urgent=True, waited=timedelta(hours=1))
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    expect(page.locator(f"#ticket-{first.pk}")).to_have_class(SELECTED)

    def look(ticket: Ticket) -> tuple[str, str]:
        return page.locator(f"#ticket-{ticket.pk}").evaluate(
            "el => { const s = getComputedStyle(el); return [s.boxShadow, s.backgroundColor]; }"
        )

    selected, plain = look(first), look(second)
    assert selected != plain
    assert "rgb(35, 87, 217) 0px 0px 0px 2px" in selected[0]  # an accent ring the red edge can't hide
    shot(page, "urgent-selected")
    page.close()


@pytest.fixture
def phone(
    browser: Browser,
    asgi_server: str,
    agent: Any,
) -> Page:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(asgi_server + "/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("button[type=submit]")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
    return page


def test_a_phone_shows_several_tickets_a_screen_no_keyboard_hints_and_no_sideways_scroll(
    phone: Page, categories: dict[str, Category]
) -> None:
    made = [
        waiting(f"My card was declined at the supermarket {i}", category=categories["lost-or-stolen-card"],
                body="I tried to pay for my shopping and the card was declined twice, please help " * 3)
        for i in range(8)
    ]  # fmt: skip
    phone.reload()
    expect(phone.locator("li.ticket")).to_have_count(len(made))
    expect(phone.locator(".toolbar .keys")).to_be_hidden()
    expect(phone.locator(".choice kbd").first).to_be_hidden()
    shot(phone, "phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    bar = phone.locator(".topbar").bounding_box()
    assert bar is not None and bar["height"] <= 100, bar  # at most two short lines
    on_screen = phone.evaluate(
        "[...document.querySelectorAll('li.ticket')]"
        ".filter(el => el.getBoundingClientRect().bottom <= innerHeight).length"
    )
    assert on_screen >= 3, on_screen
    shot(phone, "phone")
    phone.context.close()


def test_a_row_selected_by_keyboard_is_never_hidden_under_the_sticky_toolbar(
    browser: Browser, asgi_server: str, agent: Any, categories: dict[str, Category]
) -> None:
    rows = [waiting(f"Card problem {i}", category=categories["card-declined"]) for i in range(12)]
    page = log_in(browser, asgi_server, "alice", "pw-alice")
    page.set_viewport_size({"width": 1280, "height": 700})
    for _ in rows[1:]:
        page.keyboard.press("j")
    expect(page.locator(f"#ticket-{rows[0].pk}")).to_have_class(SELECTED)  # the oldest, at the bottom
    for _ in rows[1:]:
        page.keyboard.press("k")
    first = page.locator(f"#ticket-{rows[-1].pk}")  # newest first: the top row
    expect(first).to_have_class(SELECTED)
    toolbar = page.locator(".toolbar").bounding_box()
    box = first.bounding_box()
    assert toolbar is not None and box is not None
    assert box["y"] >= toolbar["y"] + toolbar["height"] - 1, (box, toolbar)
