"""The taxonomy page's forms as an admin meets them: a refusal leaves the browser on the
page it was on (a reload does not post again), near-duplicate names are flagged before
they are created, queues are renamed and deleted, every button is styled; and the
quality-check list says plainly what each button does."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers import log_in
from triage import services
from triage.models import Category, Queue, TaxonomyChange

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNSTYLED = "rgb(239, 239, 239)"  # Chromium's own button background


def test_a_refused_form_stays_on_its_page_and_a_reload_does_not_post_again(
    browser: Browser,
    asgi_server: str,
    admin_user: Any,
    categories: Any,
) -> None:
    ada = log_in(browser, asgi_server, "ada", "pw-ada")
    ada.goto(asgi_server + "/taxonomy/")
    for button in ("#queue-form button", "#precision-form button", "#create-form button"):
        assert ada.eval_on_selector(button, "b => getComputedStyle(b).backgroundColor") != UNSTYLED, button
    ada.fill("#id_target_precision", "12")
    ada.click("#precision-form button")
    expect(ada.locator("#precision-form .errorlist")).to_contain_text("between 50%")
    assert ada.url == asgi_server + "/taxonomy/"
    posts: list[str] = []
    ada.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    ada.reload()
    assert not posts  # the page's own URL is a GET

    fees = categories["fees-and-charges"]
    ada.goto(asgi_server + f"/taxonomy/c/{fees.pk}/")
    ada.fill("#id_threshold", "150")
    ada.click("#threshold-form button")
    expect(ada.locator("#threshold-form .errorlist")).to_contain_text("0 to 100")
    assert ada.url == asgi_server + f"/taxonomy/c/{fees.pk}/"
    ada.fill("#id_threshold", "92.5")  # every share is typed as a percentage
    ada.click("#threshold-form button")
    expect(ada.locator(".flash")).to_contain_text("Saved the auto-triage threshold")
    fees.refresh_from_db()
    assert fees.auto_threshold == pytest.approx(0.925)
    expect(ada.locator("#id_threshold")).to_have_value("92.5")


def test_a_name_like_an_existing_one_is_created_only_once_the_admin_confirms(
    browser: Browser,
    asgi_server: str,
    admin_user: Any,
    categories: Any,
) -> None:
    ada = log_in(browser, asgi_server, "ada", "pw-ada")
    ada.goto(asgi_server + "/taxonomy/")
    ada.fill("#id_name", "Fees & Charges")
    ada.click("#create-form button")
    warning = ada.locator("#create-form .errorlist")
    expect(warning).to_contain_text("“Fees and charges”")
    assert not Category.objects.filter(name="Fees & Charges").exists()
    assert ada.url == asgi_server + "/taxonomy/"
    ada.check("#id_confirm_similar")
    ada.click("#create-form button")
    expect(ada.locator(".flash")).to_contain_text("Created “Fees & Charges”")
    assert Category.objects.filter(name="Fees & Charges").exists()

    # Renaming into a near-duplicate asks too.
    delivery = categories["card-delivery"]
    ada.goto(asgi_server + f"/taxonomy/c/{delivery.pk}/")
    ada.fill("#id_name", "Card declines")
    ada.click("#edit-form button")
    expect(ada.locator("#edit-form .errorlist")).to_contain_text("“Card declined”")
    delivery.refresh_from_db()
    assert delivery.name == "Card delivery"


def test_an_admin_renames_and_deletes_queues(
    browser: Browser,
    asgi_server: str,
    admin_user: Any,
    categories: Any,
) -> None:
    cards = Queue.objects.get_or_create(slug="cards", defaults={"name": "Cards"})[0]
    spare = Queue.objects.get_or_create(slug="spare", defaults={"name": "Spare"})[0]
    Category.objects.filter(slug="card-declined").update(queue=cards)
    ada = log_in(browser, asgi_server, "ada", "pw-ada")
    ada.goto(asgi_server + "/taxonomy/")
    row = ada.locator("li[data-queue=cards]")
    row.locator("input[name=name]").fill("Cards and ATMs")
    row.locator("button", has_text="Rename").click()
    expect(ada.locator(".flash")).to_contain_text("Renamed the queue “Cards and ATMs”")
    cards.refresh_from_db()
    assert cards.name == "Cards and ATMs" and cards.slug == "cards"  # bookmarked ?queue=cards still works

    ada.locator("li[data-queue=cards] button", has_text="Delete").click()
    expect(ada.locator("#queues ~ .errors")).to_contain_text("still has categories (“Card declined”)")
    assert ada.url == asgi_server + "/taxonomy/"
    ada.locator("li[data-queue=spare] button", has_text="Delete").click()
    expect(ada.locator(".flash")).to_contain_text("Deleted queue “Spare”")
    assert not Queue.objects.filter(pk=spare.pk).exists()
    assert set(TaxonomyChange.objects.values_list("action", flat=True)) >= {"queue_edit", "queue_delete"}


def test_the_quality_check_list_is_a_highlighted_tab_whose_buttons_say_what_they_do(
    browser: Browser,
    asgi_server: str,
    supervisor: Any,
    agent: Any,
    categories: Any,
    live_model: Any,
    settings: Any,
) -> None:
    settings.REPORTS_QC_SHARE = 1.0
    ticket = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket
    services.ticket_triage(ticket=ticket, agent=agent, category=ticket.live_prediction.suggested)
    sam = log_in(browser, asgi_server, "sam", "pw-sam")
    sam.goto(asgi_server + "/reports/review/")
    expect(sam.locator(".report-nav a[aria-current=page]")).to_have_text("Quality-check list")
    row = sam.locator("#review-list tbody tr")
    expect(row.locator("button.confirm")).to_have_text("Right: keep Lost or stolen card")
    expect(row.locator("form.relabel")).to_contain_text("Wrong, it is")
    expect(row.locator("form.relabel option", has_text="Lost or stolen card")).to_have_count(0)
