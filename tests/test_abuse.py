"""Brute force and floods: login lockout an admin can lift, the API throttled per token,
the anonymous password-reset form throttled per address."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from django.test import Client

from tests.conftest import client_for


@pytest.fixture(autouse=True)
def _own_counters(settings: Any, request: pytest.FixtureRequest) -> None:
    # Rate-limit counters in a cache of this test's own, whatever cache the environment configures.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": request.node.name}
    }


def _login(client: Client, username: str, password: str) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_repeated_wrong_passwords_lock_the_account_out_until_an_admin_lifts_it(
    agent: Any, admin_user: Any, settings: Any
) -> None:
    attacker = Client()
    codes = [_login(attacker, "alice", "wrong").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert codes == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the form again, then locked
    locked = _login(attacker, "alice", "pw-alice")  # the right password, too late
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in attacker.session

    admin = Client()
    admin.force_login(admin_user)
    page = admin.get("/users/lockouts/").content.decode()
    assert "alice" in page and "Lift the lock" in page
    assert admin.post("/users/lockouts/", {"username": "alice"}).status_code == 302
    assert "No one is locked out" in admin.get("/users/lockouts/").content.decode()

    assert _login(attacker, "alice", "pw-alice").status_code == 302  # logged in
    assert attacker.session["_auth_user_id"] == str(agent.pk)


def test_a_lockout_is_for_that_username_not_for_everyone(agent: Any, second_agent: Any, settings: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "alice", "wrong")
    assert _login(client, "bob", "pw-bob").status_code == 302


def test_the_api_is_throttled_per_token_with_retry_after(
    settings: Any, agent: Any, second_agent: Any, categories: Any
) -> None:
    settings.API_REQUESTS_PER_MINUTE = 3
    alice, bob = client_for(agent), client_for(second_agent)
    codes = [alice.get("/api/categories/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = alice.get("/api/categories/")
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"].lower()
    assert bob.get("/api/categories/").status_code == 200  # another token has its own budget


def test_the_password_reset_form_is_throttled_per_address(db: Any, settings: Any) -> None:
    settings.PASSWORD_RESETS_PER_HOUR = 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client = Client()
    codes = [client.post("/accounts/password_reset/", {"email": f"x{i}@example.com"}).status_code for i in range(3)]
    assert codes == [302, 302, 429]
    refused = client.post("/accounts/password_reset/", {"email": "y@example.com"})
    assert b"Too many password-reset requests" in refused.content and int(refused["Retry-After"]) > 0
    other = Client(REMOTE_ADDR="10.1.2.3")
    assert other.post("/accounts/password_reset/", {"email": "z@example.com"}).status_code == 302


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _smtp_relay(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False


class _Inbox(Sink):
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def test_the_reset_link_is_mailed_through_the_configured_relay(agent: Any, settings: Any) -> None:
    inbox, port = _Inbox(), _free_port()
    relay = Controller(inbox, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        _smtp_relay(settings, port)
        agent.email = "alice@example.com"
        agent.save()
        response = Client().post("/accounts/password_reset/", {"email": "alice@example.com"})
    finally:
        relay.stop()
    assert response.status_code == 302
    [(recipients, content)] = inbox.messages
    assert recipients == ["alice@example.com"] and "/accounts/reset/" in content


def test_a_mail_relay_that_is_down_is_logged_and_does_not_reveal_the_account(
    agent: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _smtp_relay(settings, _free_port())  # nothing listens there
    agent.email = "alice@example.com"
    agent.save()
    known = Client().post("/accounts/password_reset/", {"email": "alice@example.com"})
    unknown = Client(REMOTE_ADDR="10.9.9.9").post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302  # same answer whether the account exists
    failures = [r for r in caplog.records if r.name == "django.contrib.auth" and r.levelname == "ERROR"]
    assert len(failures) == 1 and failures[0].exc_info is not None
