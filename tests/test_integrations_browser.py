"""Mail in, decision out, in a real Chromium: an admin adds a mailbox on its page, a
message appended to the IMAP folder appears on an agent's open queue, the agent
triages it, and the receiver gets the signed `ticket.triaged` event."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Response

from tests.conftest import serve_asgi
from tests.helpers import log_in
from tests.integrations_support import message
from tests.mailserver import ImapServer
from triage.integrations import runner
from triage.integrations.models import Mailbox, WebhookEndpoint
from triage.integrations.selectors import endpoint_secret
from triage.models import Decision, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web_with_integrations(transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web server polling mailboxes and delivering events itself (as without Redis),
    every half second."""
    settings.INTEGRATIONS_IN_WEB = True
    monkeypatch.setattr(runner, "TICK_SECONDS", 0.5)
    yield from serve_asgi(lifespan="on")


def test_mail_appended_to_a_mailbox_added_on_the_page_is_triaged_and_the_decision_reaches_the_receiver(
    browser: Browser,
    web_with_integrations: str,
    imap_server: ImapServer,
    httpserver: HTTPServer,
    admin_user: Any,
    agent: Any,
    live_model: Any,
) -> None:
    httpserver.expect_request("/assist-events", method="POST").respond_with_handler(lambda request: Response("ok"))
    user = imap_server.user()
    admin = log_in(browser, web_with_integrations, "ada", "pw-ada")
    admin.click("#nav-integrations")
    admin.click("text=Add a mailbox")
    for field, value in {
        "name": "Support inbox",
        "host": imap_server.host,
        "port": str(imap_server.port),
        "username": user,
        "password": imap_server.password,
        "poll_seconds": "5",
    }.items():
        admin.fill(f"#id_{field}", value)
    admin.select_option("#id_security", "none")
    admin.click("#test-connection")
    expect(admin.locator("#test-result")).to_contain_text("Connected to", timeout=10_000)
    admin.click("#mailbox-form button.primary")
    expect(admin.locator("#mailbox-status")).to_be_visible()
    admin.click("text=Add a webhook endpoint")
    admin.fill("#id_name", "Helpdesk")
    admin.fill("#id_url", httpserver.url_for("/assist-events"))
    admin.click("#endpoint-form button.primary")
    admin.click("button[value=reveal]")
    expect(admin.locator("#secret code")).to_contain_text("whsec_")
    mailbox = Mailbox.objects.get(name="Support inbox")
    assert mailbox.username == user and WebhookEndpoint.objects.get().events == ["ticket.triaged"]

    alice = log_in(browser, web_with_integrations, "alice", "pw-alice")
    imap_server.append(user, message("Card stolen", "My wallet was stolen on the bus with my card in it."))

    row = alice.locator("li.ticket", has_text="Card stolen")
    expect(row).to_be_visible(timeout=20_000)  # polled, stored, pushed: no reload
    expect(row.locator(".choice.suggested")).to_contain_text("Lost or stolen card")
    ticket = Ticket.objects.get(source=mailbox.source)
    expect(row.locator(f'a[href="/tickets/{ticket.pk}/"]')).to_be_visible()
    expect(row).to_have_class(re.compile(r"\bselected\b"))
    alice.keyboard.press("Enter")  # accept the suggestion
    expect(row).to_have_count(0)

    deadline = time.monotonic() + 20
    while not httpserver.log:
        assert time.monotonic() < deadline, "the receiver got nothing"
        time.sleep(0.05)
    request, response = httpserver.log[0]
    event = Webhook(endpoint_secret(WebhookEndpoint.objects.get())).verify(request.get_data(), dict(request.headers))
    assert response.status_code == 200 and event == json.loads(request.get_data())
    assert event["type"] == "ticket.triaged" and event["data"]["ticket"]["id"] == ticket.pk
    assert (
        event["data"]["decision"]["agent"] == "alice" and event["data"]["decision"]["category"] == "lost-or-stolen-card"
    )
    assert Decision.objects.get(ticket=ticket).agent == agent and imap_server.unseen(user) == 0
