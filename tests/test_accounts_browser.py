"""Admins manage accounts and API tokens in the product (not the Django admin): create a
user with a temporary password, reset a password with a one-time link, deactivate and
reactivate, issue a token whose key is shown once and works, and revoke it."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from tests.helpers import log_in, sign_in
from triage.accounts.models import ApiToken
from triage.models import TaxonomyChange

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_creates_a_user_who_signs_in_and_resets_and_deactivates_them(
    browser: Browser,
    asgi_server: str,
    admin_user: Any,
    categories: Any,
) -> None:
    ada = log_in(browser, asgi_server, "ada", "pw-ada")
    ada.click("header >> text=Users")
    expect(ada).to_have_url(asgi_server + "/taxonomy/users/")
    ada.fill("#id_username", "carol")
    ada.fill("#id_first_name", "Carol")
    ada.fill("#id_email", "carol@example.com")
    ada.select_option("#id_role", "agent")
    ada.click("#user-create button")
    expect(ada.locator("#secret h2")).to_contain_text("temporary password")
    password = ada.locator("#secret-value").inner_text().strip()
    carol = User.objects.get(username="carol")
    assert carol.check_password(password) and list(carol.groups.values_list("name", flat=True)) == ["agent"]

    # She signs in with it and lands on the queue.
    carol_page = log_in(browser, asgi_server, "carol", password)
    expect(carol_page.locator(".who .username")).to_have_text("carol")

    # A one-time link: the old password stops working, the link sets a new one once.
    ada.goto(asgi_server + f"/taxonomy/users/{carol.pk}/")
    ada.click("text=Make a one-time link")
    link = ada.locator("#secret-value").inner_text().strip()
    assert link.startswith(asgi_server + "/accounts/reset/")
    carol.refresh_from_db()
    assert not carol.check_password(password)
    visitor = browser.new_page()
    visitor.goto(link)
    visitor.fill("#id_new_password1", "a-new-long-secret-42")
    visitor.fill("#id_new_password2", "a-new-long-secret-42")
    visitor.click("button[type=submit]")
    expect(visitor.locator("h1")).to_have_text("Password set")
    visitor.goto(link)
    expect(visitor.locator(".error")).to_contain_text("used or has expired")
    carol.refresh_from_db()
    assert carol.check_password("a-new-long-secret-42")

    # Deactivated: she cannot sign in; reactivated: she can.
    ada.goto(asgi_server + f"/taxonomy/users/{carol.pk}/")
    ada.click("text=Deactivate carol")
    expect(ada.locator(".flash")).to_contain_text("carol deactivated")
    expect(ada).to_have_url(asgi_server + f"/taxonomy/users/{carol.pk}/")
    refused = sign_in(browser, asgi_server, "carol", "a-new-long-secret-42")
    expect(refused.locator(".error")).to_be_visible()
    ada.click("text=Reactivate carol")
    expect(ada.locator(".flash")).to_contain_text("carol reactivated")
    log_in(browser, asgi_server, "carol", "a-new-long-secret-42")
    # Her page says what happened, and so does the history.
    ada.reload()
    expect(ada.locator(".history")).to_contain_text("User carol deactivated")
    assert TaxonomyChange.objects.filter(action="user", actor=admin_user).count() == 4


def test_an_admin_issues_an_api_token_shown_once_that_works_until_revoked(
    browser: Browser,
    asgi_server: str,
    admin_user: Any,
    integration: Any,
    categories: Any,
) -> None:
    ada = log_in(browser, asgi_server, "ada", "pw-ada")
    ada.goto(asgi_server + "/taxonomy/tokens/")
    ada.select_option("#id_user", str(integration.pk))
    ada.fill("#id_name", "Zendesk webhook")
    ada.click("#token-form button")
    key = ada.locator("#secret-value").inner_text().strip()
    assert key.startswith("ast_")
    stored = ApiToken.objects.get(name="Zendesk webhook")
    assert key not in (stored.digest, stored.prefix) and key.startswith(stored.prefix)  # only a digest is kept

    post = {"subject": "Card lost", "body": "I lost my card on the bus"}
    answer = requests.post(
        asgi_server + "/api/tickets/", json=post, headers={"Authorization": f"Token {key}"}, timeout=10
    )
    assert answer.status_code == 201

    ada.goto(asgi_server + "/taxonomy/tokens/")  # a fresh visit: the key is not shown again
    expect(ada.locator("#secret-value")).to_have_count(0)
    row = ada.locator("#tokens tr[data-token='Zendesk webhook']")
    expect(row).to_contain_text("helpdesk")
    expect(row).not_to_contain_text("\u2013")  # an en dash: never used; its last use is recorded
    row.locator("button", has_text="Revoke").click()
    expect(ada.locator(".flash")).to_contain_text("no longer works")
    expect(ada.locator("#tokens tr[data-token='Zendesk webhook']")).to_contain_text("revoked")
    again = requests.post(
        asgi_server + "/api/tickets/", json=post, headers={"Authorization": f"Token {key}"}, timeout=10
    )
    assert again.status_code == 401
