"""Taxonomy operations against the real database (PostgreSQL in CI): create, rename,
retire, merge with its relabel, audit rows and retrain, split, rules, thresholds,
bad input, concurrent edits."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from triage import services, serving
from triage.learning.services import retrain_request
from triage.learning.triggers import retrain_if_pending
from triage.models import (
    Category,
    Decision,
    LabelChange,
    ModelVersion,
    Prediction,
    RelabelPermit,
    RoutingRule,
    SplitItem,
    TaxonomyChange,
    Ticket,
    TrainingRun,
)
from triage.taxonomy import merge, rules, selectors, split
from triage.taxonomy import services as tax
from triage.taxonomy.services import TaxonomyError


def queue(slug: str) -> Any:
    """A queue the migration creates (transactional tests flush migration data: recreate it)."""
    from triage.models import Queue

    return Queue.objects.get_or_create(slug=slug, defaults={"name": slug.title()})[0]


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _fresh_rules() -> Any:
    rules.reset()
    yield
    rules.reset()


def _decide(agent: Any, subject: str, body: str, category: Category) -> Ticket:
    ticket = services.ticket_ingest(subject=subject, body=body).ticket
    services.ticket_triage(ticket=ticket, agent=agent, category=category)
    return ticket


def test_an_admin_creates_a_category_from_the_page_and_it_is_recorded(admin_user: Any, categories: Any) -> None:
    response = logged_in(admin_user).post(
        "/taxonomy/", {"name": "Crypto wallets", "description": "Buying and selling crypto", "color": "#aa00ff"}
    )
    assert response.status_code == 302
    created = Category.objects.get(slug="crypto-wallets")
    assert created.min_examples == 20 and created.is_active
    change = TaxonomyChange.objects.get(action="create")
    assert change.actor == admin_user and change.after["name"] == "Crypto wallets"
    page = logged_in(admin_user).get("/taxonomy/").content.decode()
    assert "Created “Crypto wallets”" in page  # the history on the page


@pytest.mark.parametrize(
    ("name", "slug", "field"),
    [("transfers", "", "name"), ("Something new", "transfers", "slug"), ("  ", "", "name")],
)
def test_duplicate_names_and_slugs_are_refused_and_nothing_changes(
    admin_user: Any, categories: Any, name: str, slug: str, field: str
) -> None:
    before = Category.objects.count()
    response = logged_in(admin_user).post("/taxonomy/", {"name": name, "slug": slug, "color": "#000000"})
    assert response.status_code == 400
    assert Category.objects.count() == before and not TaxonomyChange.objects.exists()
    if name.strip():
        assert "already" in response.content.decode()


def test_rename_keeps_history_and_a_stale_version_is_refused(admin_user: Any, categories: Any) -> None:
    fees = categories["fees-and-charges"]
    common = {"slug": fees.slug, "description": "Fees", "color": "#123456", "parent": "", "queue": "", "urgent": ""}
    first = logged_in(admin_user).post(f"/taxonomy/c/{fees.pk}/", {**common, "name": "Fees", "version": 1})
    assert first.status_code == 302
    # A second admin still has version 1 open: refused, with a message, nothing lost.
    second = logged_in(admin_user).post(f"/taxonomy/c/{fees.pk}/", {**common, "name": "Charges", "version": 1})
    assert second.status_code == 400 and "changed by someone else" in second.content.decode()
    fees.refresh_from_db()
    assert fees.name == "Fees" and fees.version == 2
    change = TaxonomyChange.objects.get(action="edit")
    assert change.before["name"] == "Fees and charges" and change.after["name"] == "Fees"
    # The history on the category's page reads as fields, not as a Python dict.
    page = logged_in(admin_user).get(f"/taxonomy/c/{fees.pk}/").content.decode()
    assert "<dt>name</dt><dd>Fees and charges</dd>" in page and "<dt>name</dt><dd>Fees</dd>" in page
    assert "{&#x27;" not in page and "{'" not in page


def test_merge_relabels_tickets_and_decisions_keeps_old_labels_and_queues_a_retrain(
    admin_user: Any, agent: Any, categories: Any, live_model: Any
) -> None:
    lost, fraud = categories["lost-or-stolen-card"], categories["suspected-fraud"]
    decided = [_decide(agent, f"lost {i}", "I lost my card", lost) for i in range(3)]
    other = _decide(agent, "fraud", "someone used my card", fraud)
    open_ticket = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket
    assert open_ticket.live_prediction.suggested == lost
    rule = rules.rule_create(
        actor=admin_user, name="lost", field="subject", kind="contains", pattern="xyz", category=lost
    )

    change = merge.category_merge(actor=admin_user, source_id=lost.pk, target_id=fraud.pk, source_version=lost.version)

    assert Ticket.objects.filter(category=lost).count() == 0
    assert set(Ticket.objects.filter(category=fraud).values_list("pk", flat=True)) == {t.pk for t in [*decided, other]}
    assert not Decision.objects.filter(chosen=lost).exists() and not Decision.objects.filter(suggested=lost).exists()
    assert Prediction.objects.get(ticket=open_ticket, is_live=True).suggested == fraud
    rule.refresh_from_db()
    assert rule.category == fraud
    lost.refresh_from_db()
    assert not lost.is_active and lost.merged_into == fraud
    # The audit keeps every old label.
    audit = LabelChange.objects.filter(change=change)
    assert audit.filter(field="ticket.category").count() == 3
    assert audit.filter(field="decision.chosen").count() == 3
    assert all(row.old_category == lost and row.new_category == fraud for row in audit)
    assert change.actor == admin_user and change.after["moved"]["tickets"] == 3
    # The reports follow: their decision facts carry the new label.
    from triage.models import DecisionFact

    facts = DecisionFact.objects.filter(ticket__in=decided)
    assert facts.count() == 3 and set(facts.values_list("chosen", flat=True)) == {fraud.pk}
    assert not DecisionFact.objects.filter(suggested=lost).exists()
    # A retrain is queued, by whom and why.
    run = TrainingRun.objects.get()
    assert run.trigger == TrainingRun.Trigger.TAXONOMY and run.requested_by == admin_user
    assert change.retrain_run == run and not change.retrain_pending
    # The model never suggests the retired category again.
    serving.reset()
    again = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").prediction
    assert again is not None and again.suggested != lost


def test_a_merge_while_a_training_runs_is_marked_and_housekeeping_queues_it_later(
    admin_user: Any, categories: Any
) -> None:
    running = retrain_request(trigger=TrainingRun.Trigger.MANUAL, enqueue=False)
    change = merge.category_merge(
        actor=admin_user,
        source_id=categories["transfers"].pk,
        target_id=categories["fees-and-charges"].pk,
        source_version=1,
    )
    assert change.retrain_pending and change.retrain_run is None
    assert retrain_if_pending() is None  # still running
    TrainingRun.objects.filter(pk=running.pk).update(status=TrainingRun.Status.SUCCEEDED)
    run = retrain_if_pending()
    assert run is not None and run.trigger == TrainingRun.Trigger.TAXONOMY
    change.refresh_from_db()
    assert not change.retrain_pending and change.retrain_run == run


def test_decisions_stay_append_only_outside_a_sanctioned_relabel(agent: Any, categories: Any) -> None:
    ticket = _decide(agent, "x", "y", categories["transfers"])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Decision.objects.filter(ticket=ticket).update(chosen=categories["fees-and-charges"])


def _append_only_trigger_source() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'triage_decision_append_only'")
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'triage_decision'")
        return " ".join(row[0] for row in cursor.fetchall())


def test_the_append_only_trigger_compares_every_column_of_a_decision(db: Any) -> None:
    # The trigger lists the columns a relabel must leave alone by hand: a new column it
    # does not compare could be rewritten along a relabel permit.
    source = _append_only_trigger_source()
    assert "append-only" in source
    columns = [field.column for field in Decision._meta.concrete_fields]
    missing = [c for c in columns if not re.search(rf"\bNEW\.{c}\b", source) or not re.search(rf"\bOLD\.{c}\b", source)]
    assert missing == [], f"the append-only trigger on decisions does not compare {missing}: add them to it"


def test_a_relabel_permit_moves_the_category_and_nothing_else_of_a_decision(
    agent: Any, second_agent: Any, categories: Any
) -> None:
    ticket = _decide(agent, "x", "y", categories["transfers"])
    decision = Decision.objects.get(ticket=ticket)
    other_ticket = services.ticket_ingest(subject="other", body="ticket").ticket
    version = ModelVersion.objects.create(version=99, artifact="models/x.skops", sha256="-", hmac="-")
    changed = {
        "id": decision.pk + 1000,
        "ticket": other_ticket,
        "agent": second_agent,
        "model_version": version,
        "accepted": not decision.accepted,
        "applied": not decision.applied,
        "seconds_taken": (decision.seconds_taken or 0.0) + 1.0,
        "created_at": decision.created_at - timedelta(days=1),
    }
    moved = {"chosen", "suggested"}
    untested = [f.name for f in Decision._meta.concrete_fields if f.name not in changed and f.name not in moved]
    assert untested == [], f"give these Decision fields a changed value here: {untested}"
    source, target = categories["transfers"], categories["fees-and-charges"]
    for name, value in changed.items():
        with transaction.atomic():
            permit = RelabelPermit.objects.create(from_category=source, to_category=target)
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                Decision.objects.filter(pk=decision.pk).update(chosen=target, **{name: value})
            permit.delete()
    with transaction.atomic():
        permit = RelabelPermit.objects.create(from_category=source, to_category=target)
        assert Decision.objects.filter(pk=decision.pk).update(chosen=target) == 1
        permit.delete()


@pytest.mark.parametrize("case", ["itself", "retired", "missing"])
def test_bad_merges_are_refused_with_a_message_and_nothing_changes(admin_user: Any, categories: Any, case: str) -> None:
    source, target = categories["transfers"], categories["fees-and-charges"]
    if case == "retired":
        tax.category_retire(actor=admin_user, category_id=target.pk, version=1)
    target_id = {"itself": str(source.pk), "retired": str(target.pk), "missing": ""}[case]
    before = TaxonomyChange.objects.count()
    response = logged_in(admin_user).post(
        f"/taxonomy/c/{source.pk}/", {"action": "merge", "target": target_id, "version": 1}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert {"itself": "cannot be merged into itself", "retired": "is retired", "missing": "required"}[case] in html
    source.refresh_from_db()
    assert source.is_active and TaxonomyChange.objects.count() == before and not TrainingRun.objects.exists()


def test_retire_stops_suggestions_and_keeps_history(
    admin_user: Any, agent: Any, categories: Any, live_model: Any
) -> None:
    lost = categories["lost-or-stolen-card"]
    old = _decide(agent, "Card stolen", "my wallet was stolen with my card", lost)
    response = logged_in(admin_user).post(f"/taxonomy/c/{lost.pk}/", {"action": "retire", "version": 1})
    assert response.status_code == 302
    serving.reset()
    fresh = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").prediction
    assert fresh is not None and fresh.suggested != lost
    old.refresh_from_db()
    assert old.category == lost  # history stays


def test_split_puts_tickets_in_a_relabel_list_and_supervisors_confirm_in_bulk(
    admin_user: Any, supervisor: Any, agent: Any, categories: Any
) -> None:
    cards = categories["card-delivery"]
    texts = [("Card not arrived", "my new card has not arrived in the post")] * 3 + [
        ("Card address", "please send the card to my new address")
    ] * 2
    tickets = [_decide(agent, s, b, cards) for s, b in texts]
    rule = rules.rule_create(
        actor=admin_user, name="post", field="body", kind="contains", pattern="in the post", category=cards
    )
    response = logged_in(admin_user).post(
        f"/taxonomy/c/{cards.pk}/", {"action": "split", "new_names": "Card not arrived\nCard address", "version": 1}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.is_active  # it would route new tickets to the retired category
    late, address = Category.objects.get(slug="card-not-arrived"), Category.objects.get(slug="card-address")
    assert late.min_examples == 20 and not Category.objects.get(pk=cards.pk).is_active
    items = list(SplitItem.objects.order_by("ticket_id"))
    assert [i.ticket_id for i in items] == [t.pk for t in tickets]
    assert [i.guess_id for i in items] == [late.pk] * 3 + [address.pk] * 2  # the preview's guesses
    page = logged_in(supervisor).get(response["Location"]).content.decode()
    assert "Card not arrived" in page and "Confirm selected" in page
    assert 'id="split-moved"' not in page  # nothing merged or retired since

    post = {"item": [str(i.pk) for i in items]} | {f"choice-{i.pk}": str(i.guess_id) for i in items}
    assert logged_in(supervisor).post(response["Location"], post).status_code == 302
    assert Ticket.objects.filter(category=late).count() == 3 and Ticket.objects.filter(category=address).count() == 2
    assert Decision.objects.filter(chosen=late).count() == 3
    assert LabelChange.objects.filter(old_category=cards, field="ticket.category").count() == 5
    assert TrainingRun.objects.get().trigger == TrainingRun.Trigger.TAXONOMY
    # Five examples are below the threshold of 20: not suggested yet.
    assert late not in selectors.suggestable_categories()
    Category.objects.filter(pk=late.pk).update(min_examples=3)
    assert late in selectors.suggestable_categories()


def test_a_split_target_merged_away_offers_its_survivor_on_the_relabel_list(
    admin_user: Any, supervisor: Any, agent: Any, categories: Any
) -> None:
    cards, fraud = categories["card-delivery"], categories["suspected-fraud"]
    tickets = [_decide(agent, "Card not arrived", "my new card has not arrived in the post", cards) for _ in range(2)]
    response = logged_in(admin_user).post(
        f"/taxonomy/c/{cards.pk}/", {"action": "split", "new_names": "Card not arrived\nCard address", "version": 1}
    )
    late, address = Category.objects.get(slug="card-not-arrived"), Category.objects.get(slug="card-address")
    merge.category_merge(actor=admin_user, source_id=late.pk, target_id=fraud.pk, source_version=late.version)

    page = logged_in(supervisor).get(response["Location"]).content.decode()
    options = re.findall(r'<option value="(\d+)"( selected)?>', page)
    assert {int(pk) for pk, _ in options} == {fraud.pk, address.pk}  # not the merged-away target
    assert {int(pk) for pk, selected in options if selected} == {fraud.pk}  # its guesses follow the merge

    first, second = SplitItem.objects.order_by("ticket_id")
    post = {"item": [str(second.pk)], f"choice-{second.pk}": str(fraud.pk)}
    assert logged_in(supervisor).post(response["Location"], post).status_code == 302
    assert Ticket.objects.get(pk=tickets[1].pk).category == fraud
    # The merged-away target itself is refused, as any category outside the split.
    for pk in (late.pk, categories["transfers"].pk):
        with pytest.raises(TaxonomyError, match="split's active categories"):
            split.split_confirm(actor=supervisor, split_id=first.split_id, choices={first.pk: pk})
    assert Ticket.objects.get(pk=tickets[0].pk).category == cards

    # A target retired since is not offered; a ticket guessed there preselects nothing.
    address = Category.objects.get(pk=address.pk)
    tax.category_retire(actor=admin_user, category_id=address.pk, version=address.version)
    SplitItem.objects.filter(pk=first.pk).update(guess=address)
    page = logged_in(supervisor).get(response["Location"]).content.decode()
    options = re.findall(r'<option value="(\d*)"( selected)?>', page)
    assert options == [("", " selected"), (str(fraud.pk), "")]
    assert "Since the split, some of these were merged or retired" in page
    refused = logged_in(supervisor).post(response["Location"], {"item": [str(first.pk)], f"choice-{first.pk}": ""})
    assert refused.status_code == 400 and Ticket.objects.get(pk=tickets[0].pk).category == cards


def test_a_split_needs_two_distinct_new_names(admin_user: Any, categories: Any) -> None:
    cards = categories["card-delivery"]
    for names in ["Only one", "Same\nsame", "Transfers\nOther"]:
        response = logged_in(admin_user).post(
            f"/taxonomy/c/{cards.pk}/", {"action": "split", "new_names": names, "version": 1}
        )
        assert response.status_code == 400, names
    assert Category.objects.get(pk=cards.pk).is_active and Category.objects.count() == len(categories)


def test_a_catastrophically_slow_regex_cannot_hold_up_ingest(
    admin_user: Any, categories: Any, live_model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # "(a|aa)+b" backtracks exponentially on a run of a's with no b: refused when saved
    # (tests/test_rules_safety.py); one stored before that check is cut off at ingest.
    RoutingRule.objects.create(
        name="slow", field="body", kind="regex", pattern="(a|aa)+b", category=categories["transfers"]
    )
    rules.reset()
    result = services.ticket_ingest(subject="x", body="a" * 34 + "!")
    assert result.created and result.prediction is not None
    assert result.prediction.rule_name == "" and result.prediction.model_version is not None
    assert any("stopped in rule 'slow'" in r.getMessage() for r in caplog.records)


def test_a_rule_applies_before_the_model_and_says_so(
    admin_user: Any, agent: Any, categories: Any, live_model: Any
) -> None:
    lost = categories["lost-or-stolen-card"]
    rules.rule_create(
        actor=admin_user,
        name="lost card",
        field="subject",
        kind="contains",
        pattern="lost card",
        category=lost,
        urgent=True,
    )
    result = services.ticket_ingest(subject="Help: LOST CARD", body="transfer to my landlord")
    p = result.prediction
    assert p is not None and p.model_version is None and p.rule_name == "lost card" and p.suggested == lost
    assert result.ticket.urgent
    api = agent_api(agent).get(f"/api/tickets/{result.ticket.pk}/").json()
    assert api["suggestion"]["source"] == "rule: lost card" and api["suggestion"]["model_version"] is None
    html = logged_in(agent).get("/").content.decode()
    assert "Suggested by rule “lost card”" in html and "urgent-badge" in html
    # Precision against agents' decisions, beside the rule.
    services.ticket_triage(ticket=result.ticket, agent=agent, category=categories["transfers"])
    # The reports keep a rule's suggestion out of the model's confidence figures.
    from triage.models import DecisionFact

    fact = DecisionFact.objects.get(ticket=result.ticket)
    assert fact.confidence is None and fact.confidence_bucket is None and fact.model_version is None
    stats = rules.rule_stats(list(RoutingRule.objects.all()))
    only = next(iter(stats.values()))
    assert only.fired == 1 and only.decided == 1 and only.precision == 0.0


def agent_api(user: Any) -> Any:
    from tests.conftest import client_for

    return client_for(user)


@pytest.mark.parametrize(
    ("kind", "pattern", "message"),
    [
        ("regex", "lost (card", "Not a valid regular expression"),
        ("regex", ".*", "matches every ticket"),
        ("contains", "", ""),
    ],
)
def test_invalid_rules_are_refused(admin_user: Any, categories: Any, kind: str, pattern: str, message: str) -> None:
    data = {"name": "r", "field": "subject", "kind": kind, "pattern": pattern, "position": 1, "is_active": "on"}
    data["category"] = str(categories["transfers"].pk)
    response = logged_in(admin_user).post("/taxonomy/rules/", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not RoutingRule.objects.exists()


def test_rules_are_edited_and_deleted_with_history(admin_user: Any, categories: Any) -> None:
    rule = rules.rule_create(
        actor=admin_user,
        name="r",
        field="subject",
        kind="regex",
        pattern=r"\bpin\b",
        category=categories["account-access"],
    )
    client = logged_in(admin_user)
    data = {"name": "pin", "field": "any", "kind": "regex", "pattern": r"\bpin\b", "position": 5, "is_active": "on"}
    data |= {"category": str(categories["account-access"].pk), "version": "1"}
    assert client.post(f"/taxonomy/rules/{rule.pk}/", data).status_code == 302
    assert client.post(f"/taxonomy/rules/{rule.pk}/", data).status_code == 400  # stale version
    assert client.post(f"/taxonomy/rules/{rule.pk}/delete/", {"version": "2"}).status_code == 302
    assert not RoutingRule.objects.exists()
    actions = list(TaxonomyChange.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["rule_create", "rule_edit", "rule_delete"]


@pytest.mark.parametrize("value", ["100.5", "-0.1", "abc", "nan"])
def test_a_threshold_outside_0_to_100_percent_is_refused(admin_user: Any, categories: Any, value: str) -> None:
    fees = categories["fees-and-charges"]
    response = logged_in(admin_user).post(
        f"/taxonomy/c/{fees.pk}/", {"action": "threshold", "threshold": value, "version": 1}
    )
    assert response.status_code == 400 and (
        "0 to 100" in response.content.decode() or "percentage" in response.content.decode()
    )
    fees.refresh_from_db()
    assert fees.auto_threshold is None and fees.version == 1
    preview = logged_in(admin_user).get(f"/taxonomy/c/{fees.pk}/threshold/preview/?threshold={value}")
    assert preview.status_code == 400 and "threshold" in preview.json()


def test_above_its_threshold_a_ticket_is_auto_triaged_shown_in_the_lane_and_undone(
    admin_user: Any, agent: Any, categories: Any, live_model: Any
) -> None:
    lost = categories["lost-or-stolen-card"]
    tax.category_threshold_set(actor=admin_user, category_id=lost.pk, version=1, threshold="0.3")
    serving.reset()
    ticket = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket
    assert ticket.status == "triaged" and ticket.label_source == "auto" and ticket.category == lost
    html = logged_in(agent).get("/").content.decode()
    assert f'id="auto-{ticket.pk}"' in html and f'id="ticket-{ticket.pk}"' not in html
    assert logged_in(agent).post(f"/taxonomy/auto/{ticket.pk}/undo/").status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == "new" and ticket.category is None
    assert logged_in(agent).post(f"/taxonomy/auto/{ticket.pk}/undo/").status_code == 409


def test_the_threshold_preview_replays_last_months_decisions(
    admin_user: Any, agent: Any, categories: Any, live_model: Any
) -> None:
    lost = categories["lost-or-stolen-card"]
    _decide(agent, "Card stolen", "my wallet was stolen with my card", lost)
    _decide(agent, "Card stolen", "my wallet was stolen with my card, and a fee", categories["fees-and-charges"])
    data = logged_in(admin_user).get(f"/taxonomy/c/{lost.pk}/threshold/preview/?threshold=0").json()
    assert data["decisions"] == 2 and data["covered"] == 2 and data["precision"] == 0.5 and data["coverage"] == 1.0
    none = logged_in(admin_user).get(f"/taxonomy/c/{lost.pk}/threshold/preview/?threshold=100").json()
    assert none["covered"] == 0 and none["precision"] is None


def test_subcategories_show_as_parent_and_child_in_the_queue(admin_user: Any, agent: Any, categories: Any) -> None:
    cards = tax.category_create(actor=admin_user, name="Cards")
    lost = categories["lost-or-stolen-card"]
    tax.category_update(
        actor=admin_user,
        category_id=lost.pk,
        version=1,
        name="Lost or stolen",
        slug=lost.slug,
        description=lost.description,
        color="#aa0000",
        parent=cards,
        queue=None,
        urgent=True,
    )
    with pytest.raises(TaxonomyError, match="two levels"):
        tax.category_create(actor=admin_user, name="Deeper", parent=Category.objects.get(pk=lost.pk))
    rules.rule_create(actor=admin_user, name="l", field="any", kind="contains", pattern="lost", category=lost)
    services.ticket_ingest(subject="lost", body="my card")
    html = logged_in(agent).get("/").content.decode()
    assert "Cards \u203a Lost or stolen" in html


def test_a_watched_queue_shows_its_tickets_urgent_first(admin_user: Any, agent: Any, categories: Any) -> None:
    cards_q, payments_q = queue("cards"), queue("payments")
    rules.rule_create(
        actor=admin_user,
        name="c",
        field="subject",
        kind="contains",
        pattern="card",
        category=categories["card-declined"],
    )
    rules.rule_create(
        actor=admin_user,
        name="u",
        field="subject",
        kind="contains",
        pattern="stolen",
        category=categories["suspected-fraud"],
        urgent=True,
        position=1,
    )
    rules.rule_create(
        actor=admin_user,
        name="t",
        field="subject",
        kind="contains",
        pattern="transfer",
        category=categories["transfers"],
    )
    Category.objects.filter(slug__in=["card-declined", "suspected-fraud"]).update(queue=cards_q)
    Category.objects.filter(slug="transfers").update(queue=payments_q)
    rules.reset()
    card = services.ticket_ingest(subject="card refused", body="").ticket
    urgent = services.ticket_ingest(subject="stolen card", body="").ticket
    transfer = services.ticket_ingest(subject="transfer late", body="").ticket
    html = logged_in(agent).get("/?queue=cards").content.decode()
    assert f'id="ticket-{transfer.pk}"' not in html
    assert html.index(f'id="ticket-{urgent.pk}"') < html.index(f'id="ticket-{card.pk}"')  # urgent first though older


def test_an_admin_changes_a_users_role_but_not_their_own(admin_user: Any, agent: Any) -> None:
    client = logged_in(admin_user)
    assert client.post("/taxonomy/users/", {"user": agent.pk, "role": "supervisor"}).status_code == 302
    assert set(agent.groups.values_list("name", flat=True)) == {"supervisor"}
    refused = client.post("/taxonomy/users/", {"user": admin_user.pk, "role": "agent"})
    assert refused.status_code == 400 and "own role" in refused.content.decode()
    assert client.post("/taxonomy/users/", {"user": agent.pk, "role": "root"}).status_code == 400
    assert TaxonomyChange.objects.filter(action="role").count() == 1


def test_after_a_merge_waiting_tickets_offer_the_target_instead_of_the_merged_away_category(
    admin_user: Any, agent: Any, categories: dict[str, Category], live_model: Any
) -> None:
    # Found by review: the merge moved suggestions but not alternatives, so the queue
    # and the API kept offering the merged-away category, and picking it was refused.
    from tests.conftest import client_for

    ticket = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket
    decided = services.ticket_ingest(subject="Card stolen", body="my card was stolen from my bag").ticket
    api = client_for(agent)
    before = api.get(f"/api/tickets/{ticket.pk}/").json()["suggestion"]
    source = before["alternatives"][0]["category"]
    target = next(slug for slug in categories if slug not in {before["category"], source})
    services.ticket_triage(ticket=decided, agent=agent, category=categories[before["category"]])
    decided_alternatives = Prediction.objects.get(ticket=decided).alternatives
    merge.category_merge(
        actor=admin_user,
        source_id=categories[source].pk,
        target_id=categories[target].pk,
        source_version=categories[source].version,
    )

    after = api.get(f"/api/tickets/{ticket.pk}/").json()["suggestion"]["alternatives"]
    offered = [a["category"] for a in after]
    assert source not in offered and target in offered
    page = logged_in(agent).get("/").content.decode()
    assert f'data-category="{source}"' not in page and f'data-category="{target}"' in page
    picked = api.post(f"/api/tickets/{ticket.pk}/triage/", {"category": target}, format="json")
    assert picked.status_code == 200, picked.json()
    # A decided ticket's record is history: left as it was.
    assert Prediction.objects.get(ticket=decided).alternatives == decided_alternatives


def test_a_retired_category_is_no_longer_offered_as_an_alternative(
    admin_user: Any, agent: Any, categories: dict[str, Category], live_model: Any
) -> None:
    from tests.conftest import client_for

    ticket = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket
    api = client_for(agent)
    before = api.get(f"/api/tickets/{ticket.pk}/").json()["suggestion"]["alternatives"]
    retired = categories[before[0]["category"]]
    tax.category_retire(actor=admin_user, category_id=retired.pk, version=retired.version)
    after = api.get(f"/api/tickets/{ticket.pk}/").json()["suggestion"]["alternatives"]
    assert [a["category"] for a in after] == [a["category"] for a in before[1:]]


def test_merging_an_alternative_into_another_alternative_adds_their_confidences(
    admin_user: Any, categories: dict[str, Category], live_model: Any
) -> None:
    from triage.taxonomy.alternatives import replace_in_waiting_alternatives

    ticket = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket
    prediction = Prediction.objects.get(ticket=ticket)
    first, second = prediction.alternatives[0], prediction.alternatives[1]
    replace_in_waiting_alternatives(categories[second["category"]], categories[first["category"]])
    prediction.refresh_from_db()
    assert prediction.alternatives[0] == {
        "category": first["category"],
        "confidence": round(first["confidence"] + second["confidence"], 4),
    }
    assert second["category"] not in [a["category"] for a in prediction.alternatives]


def test_a_slug_that_a_model_or_tickets_use_cannot_change(
    admin_user: Any, categories: dict[str, Category], live_model: Any
) -> None:
    # Found by review: the model's classes are slugs, so editing "card-declined" to
    # "card-refused" made the live model stop suggesting the category at all.
    declined = categories["card-declined"]
    form = {"name": declined.name, "slug": "card-refused", "description": "", "color": "#5d6677", "version": 1}
    response = logged_in(admin_user).post(f"/taxonomy/c/{declined.pk}/", form)
    assert response.status_code == 400 and "tickets, models and API clients refer to it" in response.content.decode()
    declined.refresh_from_db()
    assert declined.slug == "card-declined" and declined.version == 1
    suggested = services.ticket_ingest(subject="Declined", body="my card was declined at the shop").prediction
    assert suggested is not None and suggested.suggested == declined

    # The name can change; so can the slug of a category nothing uses yet.
    def edit(category: Category, name: str, slug: str) -> Category:
        plain = {"description": "", "color": "#5d6677", "parent": None, "queue": None, "urgent": False}
        return tax.category_update(
            actor=admin_user, category_id=category.pk, version=category.version, name=name, slug=slug, **plain
        )

    declined.refresh_from_db()
    assert edit(declined, "Card refused", declined.slug).name == "Card refused"
    fresh = tax.category_create(actor=admin_user, name="Crypto wallets")
    assert edit(fresh, "Crypto wallets", "crypto").slug == "crypto"


def _accepted_then_corrected_by_a_quality_check(
    ticket: Ticket, agent: Any, supervisor: Any, accepted: Category, corrected: Category
) -> None:
    from triage.models import QualityCheck
    from triage.reports.services import quality_check_review

    services.ticket_triage(ticket=ticket, agent=agent, category=accepted)
    quality_check_review(check=QualityCheck.objects.get(ticket=ticket), reviewer=supervisor, category=corrected)


def test_the_threshold_preview_counts_a_ticket_once_after_a_quality_check_correction(
    admin_user: Any, agent: Any, supervisor: Any, categories: dict[str, Category], live_model: Any, settings: Any
) -> None:
    # Found by review: the correction is a second applied decision, and both counted.
    settings.REPORTS_QC_SHARE = 1.0
    lost = categories["lost-or-stolen-card"]
    ticket = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket
    assert ticket.live_prediction is not None and ticket.live_prediction.suggested == lost
    _accepted_then_corrected_by_a_quality_check(ticket, agent, supervisor, lost, categories["suspected-fraud"])

    data = logged_in(admin_user).get(f"/taxonomy/c/{lost.pk}/threshold/preview/?threshold=0").json()
    assert (data["decisions"], data["covered"], data["correct"]) == (1, 1, 0), data


def test_a_rules_precision_counts_a_ticket_once_after_a_quality_check_correction(
    admin_user: Any, agent: Any, supervisor: Any, categories: dict[str, Category], settings: Any
) -> None:
    settings.REPORTS_QC_SHARE = 1.0
    lost = categories["lost-or-stolen-card"]
    rule = rules.rule_create(
        actor=admin_user, name="stolen", field="body", kind="contains", pattern="stolen", category=lost
    )
    ticket = services.ticket_ingest(subject="Card", body="my wallet was stolen").ticket
    _accepted_then_corrected_by_a_quality_check(ticket, agent, supervisor, lost, categories["suspected-fraud"])

    stats = rules.rule_stats([rule])[rule.pk]
    assert (stats.fired, stats.decided, stats.agreed) == (1, 1, 0), vars(stats)
    assert (stats.backtest_matched, stats.backtest_agreed) == (1, 0), vars(stats)


def test_a_model_trained_before_a_merge_suggests_the_survivor_with_the_merged_categorys_share(
    admin_user: Any, categories: Any, live_model: Any
) -> None:
    lost, fraud = categories["lost-or-stolen-card"], categories["suspected-fraud"]
    text = ("Card stolen", "my wallet was stolen with my card")
    before = serving.active_model()
    assert before is not None
    raw = before.suggester.suggest(*text)
    assert raw.label == "lost-or-stolen-card"
    share = dict([(raw.label, raw.confidence), *raw.alternatives])
    merge.category_merge(actor=admin_user, source_id=lost.pk, target_id=fraud.pk, source_version=lost.version)
    serving.reset()  # as every process does within ASSIST_MODEL_REFRESH_SECONDS
    model = serving.active_model()
    assert model is not None and model.aliases == {"lost-or-stolen-card": "suspected-fraud"}
    suggestion, category, _ = model.suggest(*text, cached=False)
    assert category == fraud and suggestion.label == "suspected-fraud"
    # The survivor's share is both classes' (fraud's is below the listed alternatives when not among them).
    lowest_listed = min(p for _, p in raw.alternatives)
    fraud_share = share.get("suspected-fraud")
    expected = share["lost-or-stolen-card"] + (fraud_share or 0.0)
    assert expected - 1e-6 <= suggestion.confidence <= expected + (0.0 if fraud_share else lowest_listed) + 1e-6
    assert suggestion.reasons == raw.reasons  # the model's own top class, now part of the survivor
    assert "lost-or-stolen-card" not in dict(suggestion.alternatives)
    ticket = services.ticket_ingest(subject=text[0], body=text[1]).ticket
    assert ticket.live_prediction.suggested == fraud and not ticket.live_prediction.needs_human


@pytest.mark.parametrize("live", [True, False], ids=["beside-a-live-model", "with-no-live-model"])
def test_a_shadow_model_follows_taxonomy_edits_like_the_live_one(
    admin_user: Any, categories: Any, trained_pipeline: Any, live: bool, request: pytest.FixtureRequest
) -> None:
    from django.utils import timezone

    from triage.learning.registry import model_version_create

    if live:
        request.getfixturevalue("live_model")
    shadow = model_version_create(
        pipeline=trained_pipeline,
        classes=[str(c) for c in trained_pipeline.classes_],
        params={},
        metrics={},
        lineage={},
    )
    shadow.shadow_since = timezone.now()
    shadow.save(update_fields=["shadow_since"])
    serving.reset()
    assert (serving.active_model() is not None) == live and serving.shadow_model() is not None
    lost, fraud = categories["lost-or-stolen-card"], categories["suspected-fraud"]
    merge.category_merge(actor=admin_user, source_id=lost.pk, target_id=fraud.pk, source_version=lost.version)
    serving._holder.checked_at = float("-inf")  # the next refresh tick, without reloading the models
    loaded = serving.shadow_model()
    assert loaded is not None and "lost-or-stolen-card" not in loaded.categories
    assert loaded.aliases == {"lost-or-stolen-card": "suspected-fraud"}


def test_a_survivor_ranked_low_still_wins_with_the_share_of_a_category_merged_into_it(
    admin_user: Any, categories: Any, live_model: Any
) -> None:
    text = ("Card stolen", "my wallet was stolen with my card")
    model = serving.active_model()
    assert model is not None
    every = dict(zip(model.suggester.classes, model.suggester.predict_proba_one(*text).tolist(), strict=True))
    top, low = sorted(every, key=lambda slug: -every[slug])[0], sorted(every, key=lambda slug: every[slug])[0]
    source, target = categories[top], categories[low]  # the top class merged into the least likely one
    merge.category_merge(actor=admin_user, source_id=source.pk, target_id=target.pk, source_version=source.version)
    serving.reset()
    suggestion, category, _ = serving.active_model().suggest(*text, cached=False)
    assert category == target and suggestion.confidence == pytest.approx(every[top] + every[low])
    assert len(suggestion.alternatives) == 3


def test_a_slug_answers_for_its_own_category_before_another_categorys_name(db: Any) -> None:
    renamed = Category.objects.create(name="Returns", slug="refund")  # once "Refund"; slugs never change
    Category.objects.create(name="Refund", slug="refund-request")
    assert selectors.category_slugs_by_label(["refund", "Refund", "REFUNDS"]) == {
        "refund": renamed.slug,
        "Refund": "refund-request",
        "REFUNDS": None,
    }


def test_a_merge_older_than_the_model_leaves_its_suggestions_on_the_fast_path(categories: Any, live_model: Any) -> None:
    # Merged away before this model was trained: not one of its classes.
    Category.objects.create(name="Old thing", slug="old-thing", is_active=False, merged_into=categories["transfers"])
    serving.reset()
    model = serving.active_model()
    assert model is not None and model.aliases == {}


def test_a_split_into_more_names_than_the_limit_is_refused_with_a_clear_message(
    admin_user: Any, categories: Any, settings: Any
) -> None:
    settings.TAXONOMY_MAX_SPLIT_NAMES = 5
    cards = categories["card-delivery"]
    names = "\n".join(f"Part {i}" for i in range(6))
    response = logged_in(admin_user).post(
        f"/taxonomy/c/{cards.pk}/", {"action": "split", "new_names": names, "version": 1}
    )
    assert response.status_code == 400 and "at most 5 new categories, not 6" in response.content.decode()
    assert Category.objects.get(pk=cards.pk).is_active and Category.objects.count() == len(categories)


def test_a_split_tells_the_queue_pages_once_however_many_categories_it_makes(
    admin_user: Any, categories: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from unittest import mock

    from triage.taxonomy import broadcast

    cards = categories["card-delivery"]
    with (
        mock.patch.object(broadcast, "taxonomy_changed", autospec=True) as pushed,
        django_capture_on_commit_callbacks(execute=True),
    ):
        split.category_split(
            actor=admin_user, source_id=cards.pk, version=cards.version, new_names=[f"Part {i}" for i in range(8)]
        )
    assert pushed.call_count == 1


def test_a_merge_larger_than_the_limit_is_refused_and_nothing_moves(
    admin_user: Any, agent: Any, categories: Any, settings: Any
) -> None:
    cards, transfers = categories["card-delivery"], categories["transfers"]
    for i in range(3):
        _decide(agent, f"Card {i}", "my card has not arrived", cards)
    settings.TAXONOMY_MAX_MERGE_ROWS = 4  # three tickets and three decisions
    with pytest.raises(TaxonomyError, match="more than one merge may move at once"):
        merge.category_merge(actor=admin_user, source_id=cards.pk, target_id=transfers.pk, source_version=cards.version)
    assert Ticket.objects.filter(category=cards).count() == 3 and Category.objects.get(pk=cards.pk).is_active
