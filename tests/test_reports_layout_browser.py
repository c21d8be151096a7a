"""What a supervisor sees when the data is less tidy: many confused pairs each get a
named bar on a whole-ticket axis, and a very long category name neither widens the
reports' filters nor wraps its slug down the taxonomy table."""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from unittest import mock

import pytest
from django.utils.text import slugify
from playwright.sync_api import Browser, expect

from tests.helpers import sign_in
from triage import services
from triage.models import Category

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = (
    "Questions about card payments refused abroad while travelling in countries outside the European Economic Area."
)
assert len(LONG_NAME) == 110  # and 116 with " (new)", the length the issue reports


@pytest.fixture
def confused(agent: Any, categories: Any, live_model: Any) -> list[str]:
    """Twelve wrong decisions, each a different pair of categories (one with a 116-character name)."""
    Category.objects.filter(slug="card-declined").update(name=LONG_NAME)
    slugs = sorted(categories)
    with mock.patch("triage.broadcast.ticket_triaged", autospec=True):
        for i, (a, b) in enumerate(pairwise(slugs + slugs[:1])):
            ticket = services.ticket_ingest(subject=f"ticket {i}", body=f"about {a} and {b} number {i}").ticket
            suggested = ticket.live_prediction.suggested.slug
            wrong = b if suggested != b else a
            services.ticket_triage(ticket=ticket, agent=agent, category=categories[wrong])
    return slugs


def test_every_confused_pair_has_a_named_bar_on_a_whole_ticket_axis(
    browser: Browser,
    asgi_server: str,
    supervisor: Any,
    confused: Any,
) -> None:
    sam = sign_in(browser, asgi_server, "sam", path="/reports/errors/")
    expect(sam.locator("#chart-confused")).to_be_visible()
    # The canvas is in the page before the deferred chart scripts have drawn on it.
    sam.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('chart-confused'))")
    axes = sam.evaluate(
        """() => {
            const chart = window.Chart.getChart(document.getElementById('chart-confused'));
            return {
                bars: chart.data.labels.length,
                named: chart.scales.y.ticks.length,
                counts: chart.scales.x.ticks.map((t) => t.value),
                longest: Math.max(...chart.scales.y.ticks.map((t) => String(t.label).length)),
            };
        }"""
    )
    assert axes["bars"] >= 8 and axes["named"] == axes["bars"]
    assert axes["counts"] and all(float(v).is_integer() for v in axes["counts"]), axes["counts"]
    assert axes["longest"] <= 48  # long names cut on the axis (the tooltip and table show them whole)

    # The category filter holds a 116-character name without pushing the other filters off.
    select = sam.locator(".report-filters select[name=category]").bounding_box()
    first = sam.locator(".report-filters label").first.bounding_box()
    apply = sam.locator(".report-filters button").bounding_box()
    assert select and first and apply
    assert select["width"] <= 300
    assert abs(apply["y"] - first["y"]) < first["height"]  # one row
    sam.screenshot(path="var/screenshot-errors-report.png", full_page=True)


def test_a_long_category_name_keeps_its_slug_on_one_line_of_the_taxonomy_table(
    browser: Browser,
    asgi_server: str,
    admin_user: Any,
    confused: Any,
) -> None:
    long = Category.objects.create(name=LONG_NAME + " (new)", slug=slugify(LONG_NAME + " new"))
    assert len(long.name) == 116
    ada = sign_in(browser, asgi_server, "ada", path="/taxonomy/")
    slug = ada.locator(f"#categories tr[data-slug={long.slug}] td.slug code")
    expect(slug).to_be_visible()
    line = ada.locator("#categories tr[data-slug=transfers] td.slug code").bounding_box()
    box = slug.bounding_box()
    assert box and line and box["height"] <= line["height"] * 1.5
    table = ada.locator("#categories").bounding_box()
    assert table and table["width"] <= 1280
