"""Shared test base: named personas, API clients, a trained model, a live ASGI server.

Tests run against the database and channel layer the environment configures.
CI sets DATABASE_URL (PostgreSQL) and REDIS_URL (Redis); there, a test that needs
one of them fails if it is unreachable, it never skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Browser, Page, sync_playwright
from rest_framework.test import APIClient

from tests.helpers import api_key, demo_history_rows
from tests.mailserver import imap_server  # noqa: F401 (the mail tests' IMAP server, a session fixture)
from triage import demo, roles, services, serving
from triage.integrations import links, outbox
from triage.learning.promotion import model_version_activate
from triage.learning.registry import model_version_create
from triage.ml import artifacts
from triage.ml.pipeline import build_pipeline
from triage.models import Category, ModelVersion, Ticket

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Content-Security-Policy violations the browser tests' pages report (tests/test_browser.py).
CSP_VIOLATIONS: list[str] = []


@pytest.fixture(autouse=True)
def _no_csp_violation() -> Iterator[None]:
    CSP_VIOLATIONS.clear()
    yield
    assert not CSP_VIOLATIONS, f"the page broke its Content-Security-Policy: {CSP_VIOLATIONS}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")):
        raise pytest.UsageError("CI must run against PostgreSQL and Redis: set DATABASE_URL and REDIS_URL")


@pytest.fixture(scope="session", autouse=True)
def _static_files(django_db_blocker: Any) -> None:
    # The pages use the production static pipeline (ServeStatic + manifest).
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MODEL_REFRESH_SECONDS = 0.0
    # No random blind slice in tests: the tests that need it set the share.
    settings.BLIND_SHARE = 0.0
    # Plain http on loopback, as `make run` serves it.
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0
    serving.reset()
    links.links_changed()  # per-process caches of the integrations: nothing from another test
    outbox.subscriptions_changed()
    yield
    serving.reset()


def make_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def agent(db: Any) -> User:
    return make_user("alice", roles.AGENT)


@pytest.fixture
def second_agent(db: Any) -> User:
    return make_user("bob", roles.AGENT)


@pytest.fixture
def supervisor(db: Any) -> User:
    return make_user("sam", roles.SUPERVISOR)


@pytest.fixture
def admin_user(db: Any) -> User:
    return make_user("ada", roles.ADMIN)


@pytest.fixture
def integration(db: Any) -> User:
    return make_user("helpdesk", roles.INTEGRATION)


@pytest.fixture
def outsider(db: Any) -> User:
    """Logged in, but in no role."""
    return make_user("olga", None)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


@pytest.fixture
def ingest_client(integration: User) -> APIClient:
    return client_for(integration)


@pytest.fixture
def agent_client(agent: User) -> APIClient:
    return client_for(agent)


@pytest.fixture
def categories(db: Any) -> dict[str, Category]:
    return {
        slug: Category.objects.create(slug=slug, name=name, description=description)
        for slug, (name, description) in demo.CATEGORIES.items()
    }


@pytest.fixture(scope="session")
def demo_examples() -> list[demo.DemoTicket]:
    return demo.generate(400, seed=11)


@pytest.fixture(scope="session")
def trained_pipeline(demo_examples: list[demo.DemoTicket]) -> Any:
    """One small model for the whole session: trained once, reused (fast suite)."""
    pairs = [(t.subject, t.body) for t in demo_examples]
    return build_pipeline().fit(pairs, [t.category for t in demo_examples])


@pytest.fixture
def live_model(categories: dict[str, Category], trained_pipeline: Any, reuse_trained_artifact: None) -> ModelVersion:
    """The session's model, registered as a signed artifact and made live."""
    version = model_version_create(
        pipeline=trained_pipeline,
        classes=[str(c) for c in trained_pipeline.classes_],
        params={},
        metrics={},
        lineage={"training_rows": 400},
    )
    model_version_activate(version=version)
    serving.reset()
    return version


@pytest.fixture
def history(categories: dict[str, Category]) -> list[Ticket]:
    """300 confirmed tickets, oldest first, plus unconfirmed ones that must not be learnt from."""
    rows = demo_history_rows(categories, 300, seed=3, start=timezone.now() - timedelta(days=30))
    services.tickets_import(rows=rows, source="test")
    services.ticket_ingest(subject="unconfirmed", body="this has no human label")
    return list(Ticket.objects.filter(source="test").order_by("received_at"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def asgi_server(transactional_db: Any) -> Iterator[str]:
    """The real ASGI application (HTTP and websockets) served by uvicorn on a free port."""
    yield from serve_asgi(lifespan="off")


def serve_asgi(lifespan: str) -> Iterator[str]:
    """Serve the ASGI application until the generator is closed; lifespan "on" runs its
    startup work (the in-process mail polls and deliveries, when configured)."""
    import uvicorn

    from assist.asgi import build_application
    from assist.handlers import get_asgi_application

    # A fresh Django handler: middleware reads settings when it is built, so this
    # one sees the test's settings (plain http), not those of the first import.
    application = build_application(get_asgi_application())

    port = _free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test ASGI server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


# --- The session's model artifact: serialised once, deserialised once -------------------


@pytest.fixture(scope="session")
def trained_artifact(trained_pipeline: Any) -> tuple[bytes, Any]:
    """The session's model as skops bytes, and the pipeline those bytes load to."""
    data = artifacts.dumps(trained_pipeline)
    return data, artifacts.loads(data)


@pytest.fixture
def reuse_trained_artifact(trained_pipeline: Any, trained_artifact: tuple[bytes, Any], monkeypatch: Any) -> None:
    """Registering the session's pipeline stores the session's bytes, and loading those
    bytes (after the registry has checked their digest and signature) gives the session's
    loaded pipeline: the product's path, without skops' seconds of work in every test."""
    data, loaded = trained_artifact
    dumps, loads = artifacts.dumps, artifacts.loads
    monkeypatch.setattr(artifacts, "dumps", lambda pipeline: data if pipeline is trained_pipeline else dumps(pipeline))
    monkeypatch.setattr(artifacts, "loads", lambda blob: loaded if blob == data else loads(blob))


# --- Headless Chromium for the browser tests ---------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded browser), one per test module."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (make test installs it: apt-get install chromium)")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM
    # calls are still synchronous, so tell Django not to refuse them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            _watch_every_page(browser)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


# Reports each Content-Security-Policy violation a page meets to the test (_no_csp_violation fails it).
_CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__assistCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def _report_violation(violation: str) -> None:
    CSP_VIOLATIONS.append(violation)


def _watch_csp(page: Page) -> None:
    page.expose_function("__assistCspViolation", _report_violation)
    page.add_init_script(_CSP_WATCH)


def _watch_every_page(browser: Browser) -> None:
    """Every page the tests open, in a context of their own or the browser's, is watched."""
    new_page, new_context = browser.new_page, browser.new_context

    def watched_page(*args: Any, **kwargs: Any) -> Page:
        page = new_page(*args, **kwargs)
        _watch_csp(page)
        return page

    def watched_context(*args: Any, **kwargs: Any) -> Any:
        context = new_context(*args, **kwargs)
        context.on("page", _watch_csp)
        return context

    browser.new_page = watched_page  # type: ignore[method-assign]
    browser.new_context = watched_context  # type: ignore[method-assign]


# --- The channel layer the websocket tests use ------------------------------------------


@pytest.fixture
def redis_layer(settings: Any) -> Iterator[Any]:
    """The Redis channel layer when REDIS_URL is set (always in CI, where it must answer);
    on a laptop without Redis, the in-memory layer, so the socket's behaviour is still tested."""
    import redis
    from channels.layers import channel_layers

    url = os.environ.get("REDIS_URL", "")
    if url:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
        }
    elif IN_CI:
        pytest.fail("REDIS_URL is not set in CI: the websocket tests must use the real Redis layer")
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield channel_layers["default"]
    channel_layers.backends.clear()
