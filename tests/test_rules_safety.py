"""Routing rules can't hold up ingest: a catastrophic regex is refused when saved, and the
rule set as a whole gets one time budget per ticket. A rule-routed ticket shows the rule,
what it matched, and the model's alternatives and reasons (queue row, API, ticket page)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from tests.conftest import client_for
from triage import queue_row, services
from triage.models import RoutingRule
from triage.taxonomy import rules
from triage.taxonomy.services import TaxonomyError


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)+$", r"(a|aa)+$", r"(x+x+)+y"])
def test_a_regex_that_backtracks_catastrophically_is_refused_when_saved(
    admin_user: Any, categories: Any, pattern: str
) -> None:
    with pytest.raises(TaxonomyError, match="backtracks catastrophically") as refused:
        rules.rule_create(
            actor=admin_user,
            name="slow",
            field="subject",
            kind="regex",
            pattern=pattern,
            category=categories["transfers"],
        )
    assert refused.value.field == "pattern"
    assert not RoutingRule.objects.exists()


@pytest.mark.parametrize("pattern", [r"\bpin\b", r"card (lost|stolen)", r"(re)?fund(s|ed)?", r"[a-z]+ transfer"])
def test_ordinary_regexes_are_accepted(admin_user: Any, categories: Any, pattern: str) -> None:
    rule = rules.rule_create(
        actor=admin_user, name="ok", field="any", kind="regex", pattern=pattern, category=categories["transfers"]
    )
    assert rule.pk


def test_the_time_budget_holds_for_the_whole_rule_set_of_a_ticket(
    categories: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Stored before saves were checked: the rule set still may not run past its budget.
    for position in range(3):
        RoutingRule.objects.create(
            name=f"slow {position}",
            field="subject",
            kind="regex",
            pattern=r"(a+)+$",
            category=categories["transfers"],
            position=position,
        )
    RoutingRule.objects.create(
        name="any a", field="subject", kind="contains", pattern="a", category=categories["card-declined"], position=9
    )
    rules.reset()
    with caplog.at_level(logging.WARNING, logger="triage.taxonomy.rules"):
        assert rules.rule_match("a" * 401 + "!", "") is None
    # The first slow rule spent the ticket's budget: the others never ran.
    assert "stopped in rule 'slow 0'" in caplog.text and "slow 1" not in caplog.text
    found = rules.rule_match("card declined at the shop", "")
    assert found is not None and found.rule.name == "any a" and found.matched == "a"


def test_a_rule_routed_ticket_shows_the_rule_what_it_matched_and_the_models_alternatives(
    admin_user: Any, supervisor: Any, agent: Any, categories: Any, live_model: Any
) -> None:
    rules.rule_create(
        actor=admin_user,
        name="stolen wallet",
        field="any",
        kind="regex",
        pattern=r"wallet\s+was\s+stolen",
        category=categories["lost-or-stolen-card"],
    )
    rules.reset()
    ticket = services.ticket_ingest(subject="Help", body="My wallet was stolen on the train with my card").ticket
    p = ticket.live_prediction
    assert p.rule_name == "stolen wallet" and p.rule_matched == "wallet was stolen"
    assert len(p.alternatives) >= 3 and "lost-or-stolen-card" not in {a["category"] for a in p.alternatives}
    assert p.reasons  # the model chose the rule's category too: its words are kept

    row = queue_row.ticket_row(ticket, {c.slug: c.name for c in categories.values()})
    assert "Suggested by rule “stolen wallet”: matched “wallet was stolen”" in row
    assert row.count('class="choice"') >= 3  # the model's alternatives are offered

    suggestion = client_for(agent).get(f"/api/tickets/{ticket.pk}/").json()["suggestion"]
    assert suggestion["rule"] == "stolen wallet" and suggestion["rule_matched"] == "wallet was stolen"
    assert len(suggestion["alternatives"]) >= 3 and suggestion["reasons"]

    page = Client()
    page.force_login(supervisor)
    html = page.get(f"/reports/tickets/{ticket.pk}/").content.decode()
    assert "rule: stolen wallet" in html and "matched “wallet was stolen”" in html and "Why:" in html
