"""Every page works under the strict Content-Security-Policy, in headless Chromium: no
inline script, style or handler is blocked (tests/conftest.py fails a test on any
violation a page reports), and each page's own script still runs."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from triage.reports.urls import REPORT_SLUGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_policy_is_strict(client: Any, db: Any) -> None:
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_every_page_works_under_the_policy(
    browser: Browser,
    asgi_server: str,
    admin_user: Any,
    categories: Any,
    live_model: Any,
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(asgi_server + "/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "pw-ada")
    page.click("button[type=submit]")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)  # queue.js ran

    transfers = categories["transfers"]
    pages = ["/models/", "/taxonomy/", f"/taxonomy/c/{transfers.pk}/", "/taxonomy/rules/", "/taxonomy/users/"]
    pages += ["/users/lockouts/", "/taxonomy/splits/", "/reports/", *[f"/reports/{slug}/" for slug in REPORT_SLUGS]]
    for path in pages:
        response = page.goto(asgi_server + path)
        assert response is not None and response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")

    page.goto(asgi_server + "/taxonomy/")
    swatch = page.locator("svg.swatch").first  # a category's colour, without an inline style
    box = swatch.bounding_box()
    assert box is not None and box["width"] > 0
    assert swatch.locator("rect").get_attribute("fill") in {c.color for c in categories.values()}

    page.goto(asgi_server + "/api/docs/")  # Swagger UI, from the sidecar package, started by a script file
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Assist API", timeout=10_000)
    expect(page.locator(".opblock-summary-path", has_text="/api/tickets/{ticket_id}/triage/")).to_be_visible()
    expect(page.locator(".topbar .nav a[href='/api/docs/']")).to_be_visible()  # linked from the header for admins
    assert not errors, errors
