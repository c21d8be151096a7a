"""An admin merges two categories on the taxonomy page; an agent's open queue shows the
new name without a reload (a taxonomy event on the queue group, after commit)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.test_browser import browser, log_in  # noqa: F401  (the module's Chromium fixture)
from triage import services
from triage.models import Category, LabelChange, TaxonomyChange, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_merges_two_categories_and_the_agents_queue_follows_live(
    browser: Browser,  # noqa: F811
    asgi_server: str,
    agent: Any,
    admin_user: Any,
    live_model: Any,
    categories: Any,
) -> None:
    lost, fraud = categories["lost-or-stolen-card"], categories["suspected-fraud"]
    decided = services.ticket_ingest(subject="lost", body="I lost my card").ticket
    services.ticket_triage(ticket=decided, agent=agent, category=lost)
    ticket = services.ticket_ingest(subject="<b>Card stolen</b>", body="my wallet was stolen with my card").ticket
    assert ticket.live_prediction.suggested == lost

    alice = log_in(browser, asgi_server, "alice", "pw-alice")
    suggested = alice.locator(f"#ticket-{ticket.pk} .choice.suggested")
    expect(suggested).to_contain_text("Lost or stolen card")
    expect(suggested).to_have_attribute("title", lost.description)  # the description as a tooltip

    ada = browser.new_page()
    ada.goto(asgi_server + f"/taxonomy/c/{lost.pk}/")
    ada.fill("#id_username", "ada")
    ada.fill("#id_password", "pw-ada")
    ada.click("button[type=submit]")
    ada.select_option("#merge-form select[name=target]", str(fraud.pk))
    ada.click("#merge-form button")
    expect(ada.locator(".flash")).to_contain_text("Merged")

    # No reload: the label, its slug and its tooltip changed in place.
    expect(suggested).to_contain_text("Suspected fraud", timeout=5_000)
    expect(suggested).to_have_attribute("data-category", "suspected-fraud")
    expect(suggested).to_have_attribute("title", fraud.description)
    expect(alice.locator(f"#ticket-{ticket.pk} .subject")).to_have_text("<b>Card stolen</b>")

    alice.keyboard.press("Enter")  # accepting now records the merged-into category
    expect(alice.locator(f"#ticket-{ticket.pk}")).to_have_count(0, timeout=5_000)
    ticket.refresh_from_db()
    decided.refresh_from_db()
    assert ticket.category == fraud and decided.category == fraud
    assert not Category.objects.get(pk=lost.pk).is_active
    assert LabelChange.objects.filter(ticket=decided, old_category=lost).exists()
    assert TaxonomyChange.objects.get(action="merge").actor == admin_user
    assert TrainingRun.objects.filter(trigger="taxonomy").exists()
