"""Undo in the queue page: an agent triages, presses `u` in the toast's window, and the
ticket comes back on their page and on another agent's open page."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, expect

from tests.conftest import api_key
from tests.helpers import SELECTED, log_in, post_ticket
from triage.models import Decision, DecisionUndo, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_undoes_a_triage_with_u_and_every_open_queue_gets_the_ticket_back(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    second_agent: Any,
    integration: Any,
    live_model: Any,
    settings: Any,
) -> None:
    settings.UNDO_SECONDS = 30  # room for a slow machine; the window itself is tested in test_undo.py
    alice = log_in(browser, asgi_server, "alice", "pw-alice")
    bob = log_in(browser, asgi_server, "bob", "pw-bob")
    ticket_id = post_ticket(asgi_server, integration, {"subject": "Card stolen", "body": "my wallet was stolen"})
    for page in (alice, bob):
        expect(page.locator(f"#ticket-{ticket_id}")).to_be_visible(timeout=5_000)
    expect(alice.locator(f"#ticket-{ticket_id}")).to_have_class(SELECTED)

    alice.keyboard.press("Enter")
    for page in (alice, bob):
        expect(page.locator(f"#ticket-{ticket_id}")).to_have_count(0, timeout=5_000)
        expect(page.locator("#queue-count")).to_have_text("0")
    toast = alice.locator("#toasts .undo-toast")
    expect(toast).to_contain_text("Triaged as")
    expect(toast.locator("button.undo")).to_have_text(re.compile(r"Undo \(u\) · \d+ s"))
    toast.screenshot(path="var/screenshot-undo-toast.png")
    alice.screenshot(path="var/screenshot-undo-queue.png")

    alice.keyboard.press("u")
    for page in (alice, bob):
        expect(page.locator(f"#ticket-{ticket_id}")).to_be_visible(timeout=5_000)  # back, live
        expect(page.locator("#queue-count")).to_have_text("1")
    expect(alice.locator(f"#ticket-{ticket_id}")).to_have_class(SELECTED)  # ready to decide again
    expect(alice.locator("#toasts")).to_contain_text(f"Ticket #{ticket_id} is back in the queue.")
    expect(alice.locator("#toasts .undo-toast")).to_have_count(0)
    decision = Decision.objects.get(ticket_id=ticket_id)
    assert DecisionUndo.objects.get().decision == decision
    assert Ticket.objects.get(pk=ticket_id).status == "new"

    # Bob takes it; Alice's `u` now has nothing left to undo.
    bob.locator(f"#ticket-{ticket_id}").click()
    bob.keyboard.press("Enter")
    expect(alice.locator(f"#ticket-{ticket_id}")).to_have_count(0, timeout=5_000)
    alice.keyboard.press("u")
    expect(alice.locator("#toasts")).to_contain_text("Nothing to undo.")
    assert DecisionUndo.objects.count() == 1


def test_an_undo_refused_by_the_server_says_why_in_a_toast(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    second_agent: Any,
    integration: Any,
    live_model: Any,
    settings: Any,
) -> None:
    settings.UNDO_SECONDS = 30
    alice = log_in(browser, asgi_server, "alice", "pw-alice")
    ticket_id = post_ticket(asgi_server, integration, {"subject": "Fee", "body": "why was I charged a monthly fee"})
    expect(alice.locator(f"#ticket-{ticket_id}")).to_have_class(SELECTED, timeout=5_000)
    alice.keyboard.press("Enter")
    expect(alice.locator("#toasts .undo-toast")).to_be_visible()
    # Bob acts on the ticket meanwhile (his choice is recorded, not applied).
    requests.post(
        f"{asgi_server}/api/tickets/{ticket_id}/triage/",
        json={"category": "transfers"},
        headers={"Authorization": f"Token {api_key(second_agent)}"},
        timeout=10,
    )
    alice.locator("#toasts .undo-toast button.undo").click()
    expect(alice.locator("#toasts .toast.bad")).to_contain_text("Not undone: bob has acted on ticket")
    assert not DecisionUndo.objects.exists()
