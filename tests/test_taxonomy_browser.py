"""An admin merges two categories on the taxonomy page; an agent's open queue shows the
new name without a reload (a taxonomy event on the queue group, after commit)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, expect

from tests.conftest import api_key
from tests.helpers import log_in
from triage import services
from triage.models import Category, LabelChange, TaxonomyChange, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def queue(slug: str) -> Any:
    """A queue the migration creates (transactional tests flush migration data: recreate it)."""
    from triage.models import Queue

    return Queue.objects.get_or_create(slug=slug, defaults={"name": slug.title()})[0]


def test_an_admin_merges_two_categories_and_the_agents_queue_follows_live(
    browser: Browser,
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


SPY_NOTIFICATIONS = """
window.__notifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notifications.push({ title, body: (options || {}).body }); }
};
"""


def test_an_agent_watching_a_queue_gets_its_urgent_tickets_first_with_a_notification(
    browser: Browser,
    asgi_server: str,
    agent: Any,
    admin_user: Any,
    integration: Any,
    categories: Any,
) -> None:
    from triage.taxonomy import rules

    cards = queue("cards")
    Category.objects.filter(slug__in=["card-declined", "lost-or-stolen-card"]).update(queue=cards)
    Category.objects.filter(slug="transfers").update(queue=queue("payments"))
    rules.rule_create(
        actor=admin_user,
        name="declined",
        field="subject",
        kind="contains",
        pattern="declined",
        category=categories["card-declined"],
    )
    rules.rule_create(
        actor=admin_user,
        name="stolen",
        field="subject",
        kind="contains",
        pattern="stolen",
        category=categories["lost-or-stolen-card"],
        urgent=True,
    )
    rules.rule_create(
        actor=admin_user,
        name="transfer",
        field="subject",
        kind="contains",
        pattern="transfer",
        category=categories["transfers"],
    )
    rules.reset()
    calm = services.ticket_ingest(subject="card declined", body="at the shop").ticket

    context = browser.new_context()
    context.add_init_script(SPY_NOTIFICATIONS)
    page = context.new_page()
    page.goto(asgi_server + "/?queue=cards")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("button[type=submit]")
    page.goto(asgi_server + "/?queue=cards")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator(f"#ticket-{calm.pk} time.age")).to_contain_text("ago")

    # Through the API (this thread runs Playwright's event loop: no broadcast from here).
    token = api_key(integration)

    def post(subject: str, body: str) -> int:
        response = requests.post(
            asgi_server + "/api/tickets/",
            json={"subject": subject, "body": body},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    other = post("transfer missing", "to my landlord")
    urgent = post("<i>card stolen</i>", "on the bus")
    first = page.locator("#tickets > li.ticket").first
    expect(first).to_have_attribute("id", f"ticket-{urgent}", timeout=5_000)  # urgent on top
    expect(first.locator(".urgent-badge")).to_be_visible()
    expect(page.locator(f"#ticket-{other}")).to_have_count(0)  # another queue's ticket
    page.wait_for_function("window.__notifications.length === 1")
    assert page.evaluate("window.__notifications[0].body") == "<i>card stolen</i>"  # text, not markup
    context.close()
