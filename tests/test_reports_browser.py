"""The supervisor's pages in headless Chromium: charts drawn by Chart.js, a click on
a confusion cell lists that cell's tickets (as text), and the models page says when
its live updates stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.reports_data import RANGE, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUERY = urlencode(RANGE)


@pytest.fixture
def seeded(agent: Any, second_agent: Any) -> Any:
    # No queue page is open: skip the live updates (they can't run inside Playwright's loop).
    with mock.patch("triage.broadcast.ticket_triaged", autospec=True):
        return seed(agent, second_agent)


@pytest.fixture
def supervisor_page(browser: Browser, asgi_server: str, supervisor: Any) -> Iterator[Page]:
    page = browser.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a script ran in the page: {dialog.message}"))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(asgi_server + "/accounts/login/?next=/reports/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", "pw-sam")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Reports")
    yield page
    assert errors == []
    page.close()


def drawn_charts(page: Page) -> dict[str, Any]:
    """Per canvas: whether Chart.js holds an instance for it and whether any pixel is painted."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('canvas[data-chart]')].map((canvas) => {
            const chart = window.Chart && window.Chart.getChart(canvas);
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
            return [canvas.id, {chart: !!chart, type: chart && chart.config.type, painted}];
        }))"""
    )


@pytest.mark.parametrize("slug", ["acceptance", "quality", "confidence", "errors", "drift", "agents"])
def test_every_report_draws_its_charts(supervisor_page: Page, asgi_server: str, seeded: Any, slug: str) -> None:
    supervisor_page.goto(f"{asgi_server}/reports/{slug}/?{QUERY}")
    supervisor_page.wait_for_function("() => window.assistCharts !== undefined")
    charts = drawn_charts(supervisor_page)
    assert charts, f"no chart on the {slug} page"
    for name, state in charts.items():
        assert state["chart"], f"{name}: no Chart instance"
        assert state["painted"] > 500, f"{name}: canvas left blank"
    expect(supervisor_page.locator("#charts-missing")).to_be_hidden()


def test_a_click_on_a_confusion_cell_lists_its_tickets(supervisor_page: Page, asgi_server: str, seeded: Any) -> None:
    page = supervisor_page
    page.goto(f"{asgi_server}/reports/quality/?{QUERY}")
    page.wait_for_function("() => window.assistCharts && window.assistCharts['chart-confusion']")
    assert drawn_charts(page)["chart-confusion"]["type"] == "matrix"
    # Where the cell "suggested alpha, chosen beta" is drawn on the canvas.
    point = page.evaluate(
        """() => {
            const chart = window.Chart.getChart('chart-confusion');
            chart.canvas.scrollIntoView({block: 'center'});
            const data = chart.data.datasets[0].data;
            const index = data.findIndex((d) => d.x === 'alpha' && d.y === 'beta');
            const centre = chart.getDatasetMeta(0).data[index].getCenterPoint();
            const box = chart.canvas.getBoundingClientRect();
            return {x: box.left + centre.x, y: box.top + centre.y};
        }"""
    )
    page.mouse.click(point["x"], point["y"])
    items = page.locator("#cell-ticket-list li")
    expect(items).to_have_count(1)
    ticket = seeded.tickets[2]
    expect(items.first).to_have_attribute("data-ticket", str(ticket.pk))
    expect(items.first).to_contain_text("<b>ticket 3</b>")  # the subject, shown as text
    expect(page.locator("#cell-tickets h3")).to_have_text("Suggested Alpha, chosen Beta: 1 ticket")
    # The heatmap names its rows and columns as people know the categories.
    ticks = page.evaluate("() => window.Chart.getChart('chart-confusion').scales.x.ticks.map((t) => t.label)")
    assert "Alpha" in ticks and "alpha" not in ticks, ticks

    page.locator("#cell-ticket-list a").first.click()
    expect(page.locator("h1")).to_have_text(f"Ticket #{ticket.pk}")
    expect(page.locator(".subject")).to_have_text("<b>ticket 3</b>")


def test_the_models_page_says_when_its_live_updates_stop(
    supervisor_page: Page, asgi_server: str, monkeypatch: Any
) -> None:
    from django.contrib.sessions.models import Session

    from triage import consumers
    from triage.learning import broadcast

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)  # the server runs in this process
    page = supervisor_page
    with page.expect_websocket(lambda socket: socket.url.endswith("/ws/models/")) as info:
        page.goto(f"{asgi_server}/models/")
    socket = info.value
    Session.objects.all().delete()  # signed out elsewhere (or the session expired)
    stopped = page.locator("#live-stopped")
    # The next event makes the socket re-check its user. Broadcast from a thread of
    # its own (this one runs Playwright's event loop), and again until the socket has
    # surely joined its group.
    for _ in range(50):
        sender = threading.Thread(target=broadcast.models_changed)
        sender.start()
        sender.join()
        if stopped.is_visible():
            break
        page.wait_for_timeout(100)
    expect(stopped).to_contain_text("Live updates stopped: you are signed out or no longer allowed to manage models")
    assert socket.is_closed()
    expect(page).to_have_url(f"{asgi_server}/models/")  # models_changed never reached the page
