"""Undo of an agent's own triage: within the window, the ticket waits again for everyone,
the decision is kept and marked undone, and neither is learned from or reported."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.reports_data import DAY1, RANGE, at, seed
from triage import services
from triage.integrations.models import OutboxEvent
from triage.learning import selectors as learning
from triage.learning.triggers import retrain_if_due
from triage.models import Decision, DecisionFact, DecisionUndo, QualityCheck, Ticket, TrainingRun
from triage.reports.filters import parse_filter
from triage.reports.selectors import acceptance, agents
from triage.taxonomy.selectors import threshold_preview
from triage.tickets.selectors import ticket_page


@pytest.fixture
def ticket(live_model: Any) -> Ticket:
    return services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card").ticket


def triage(agent: Any, ticket: Ticket, categories: Any, slug: str = "transfers") -> Decision:
    return services.ticket_triage(ticket=ticket, agent=agent, category=categories[slug]).decision


def undo(client: APIClient, ticket: Ticket) -> Any:
    return client.post(f"/api/tickets/{ticket.pk}/undo/")


# --- the service -------------------------------------------------------------------


def test_an_agent_undoes_their_triage_and_the_ticket_waits_again(agent: Any, ticket: Ticket, categories: Any) -> None:
    decision = triage(agent, ticket, categories)
    result = services.decision_undo(ticket_id=ticket.pk, agent=agent)
    ticket.refresh_from_db()
    assert ticket.status == "new" and ticket.category is None and ticket.label_source == ""
    assert ticket.triaged_by is None and ticket.triaged_at is None
    assert result.decision == decision and result.undo.agent == agent
    # The decision is kept as it was stored, marked undone.
    kept = Decision.objects.get()
    assert (kept.pk, kept.chosen.slug, kept.applied) == (decision.pk, "transfers", True)
    assert kept.undo == result.undo
    # Another agent may now triage it, as any waiting ticket.
    assert services.ticket_triage(ticket=ticket, agent=agent, category=categories["suspected-fraud"]).applied


def test_undo_is_refused_after_the_window(agent: Any, ticket: Ticket, categories: Any, settings: Any) -> None:
    settings.UNDO_SECONDS = 10
    decision = triage(agent, ticket, categories)
    late = at(decision.created_at + timedelta(seconds=10.5))
    with late, pytest.raises(services.UndoRefusedError, match="Too late") as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert refused.value.reason == "expired"
    with at(decision.created_at + timedelta(seconds=9.5)):
        services.decision_undo(ticket_id=ticket.pk, agent=agent)  # still inside


def test_a_window_of_zero_turns_undo_off(agent: Any, ticket: Ticket, categories: Any, settings: Any) -> None:
    settings.UNDO_SECONDS = 0
    triage(agent, ticket, categories)
    with pytest.raises(services.UndoRefusedError) as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert refused.value.reason == "expired"


def test_another_agent_cannot_undo_my_triage(agent: Any, second_agent: Any, ticket: Ticket, categories: Any) -> None:
    triage(agent, ticket, categories)
    with pytest.raises(services.UndoRefusedError, match="triaged by alice") as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=second_agent)
    assert refused.value.reason == "not_yours"
    assert Ticket.objects.get(pk=ticket.pk).status == "triaged" and not DecisionUndo.objects.exists()


def test_undo_is_refused_once_another_agent_acted_on_the_ticket(
    agent: Any, second_agent: Any, ticket: Ticket, categories: Any
) -> None:
    triage(agent, ticket, categories)
    late = services.ticket_triage(ticket=ticket, agent=second_agent, category=categories["suspected-fraud"])
    assert not late.applied  # bob's choice is recorded, not applied: still an act on the ticket
    with pytest.raises(services.UndoRefusedError, match="bob has acted") as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert refused.value.reason == "acted_on"
    assert Ticket.objects.get(pk=ticket.pk).category == categories["transfers"]


def test_undo_is_refused_once_the_ticket_was_triaged_again_by_someone_else(
    agent: Any, second_agent: Any, ticket: Ticket, categories: Any
) -> None:
    triage(agent, ticket, categories)
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    triage(second_agent, ticket, categories, "suspected-fraud")
    with pytest.raises(services.UndoRefusedError, match="triaged by bob") as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert refused.value.reason == "not_yours"
    assert DecisionUndo.objects.count() == 1


def test_a_triage_is_undone_once(agent: Any, ticket: Ticket, categories: Any) -> None:
    triage(agent, ticket, categories)
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    with pytest.raises(services.UndoRefusedError) as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert refused.value.reason == "nothing_to_undo"
    assert DecisionUndo.objects.count() == 1


def test_undo_is_refused_once_a_supervisor_reviewed_the_triage(
    agent: Any, supervisor: Any, ticket: Ticket, categories: Any, settings: Any
) -> None:
    settings.REPORTS_QC_SHARE = 1.0
    decision = triage(agent, ticket, categories, ticket.live_prediction.suggested.slug)
    from triage.reports.services import quality_check_review

    quality_check_review(
        check=QualityCheck.objects.get(decision=decision), reviewer=supervisor, category=decision.chosen
    )
    with pytest.raises(services.UndoRefusedError) as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert refused.value.reason == "acted_on"


def test_undo_of_a_ticket_relabelled_since_is_refused(agent: Any, ticket: Ticket, categories: Any) -> None:
    triage(agent, ticket, categories)
    Ticket.objects.filter(pk=ticket.pk).update(category=categories["suspected-fraud"])  # as a split's relabel
    with pytest.raises(services.UndoRefusedError) as refused:
        services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert refused.value.reason == "changed"


def test_an_undo_is_append_only_and_decisions_stay_so(agent: Any, ticket: Ticket, categories: Any) -> None:
    decision = triage(agent, ticket, categories)
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        DecisionUndo.objects.update(created_at=timezone.now() - timedelta(days=1))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Decision.objects.filter(pk=decision.pk).update(applied=False)
    assert Decision.objects.get().applied


def test_an_undo_is_an_event_for_integrations(agent: Any, ticket: Ticket, categories: Any) -> None:
    decision = triage(agent, ticket, categories)
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    events = list(OutboxEvent.objects.filter(ticket=ticket).order_by("sequence"))
    assert [e.type for e in events] == ["ticket.suggested", "ticket.triaged", "ticket.undone"]
    data = events[-1].payload["data"]
    assert data["undone"] == {"what": "decision", "by": "alice", "decision_id": decision.pk}
    assert data["ticket"]["status"] == "new" and data["ticket"]["category"] is None
    assert data["suggestion"]["category"] == ticket.live_prediction.suggested.slug


def test_a_refused_undo_changes_nothing(agent: Any, second_agent: Any, ticket: Ticket, categories: Any) -> None:
    triage(agent, ticket, categories)
    events = OutboxEvent.objects.count()
    with pytest.raises(services.UndoRefusedError):
        services.decision_undo(ticket_id=ticket.pk, agent=second_agent)
    assert OutboxEvent.objects.count() == events and DecisionFact.objects.count() == 1


def test_the_ticket_page_shows_the_decision_undone_with_who_and_when(
    agent: Any, ticket: Ticket, categories: Any, client: Any
) -> None:
    triage(agent, ticket, categories)
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    rows = ticket_page(ticket_id=ticket.pk, show_model=False).decisions
    assert [(r.decision.agent.username, r.undone_by, r.undone_at is not None) for r in rows] == [
        ("alice", "alice", True)
    ]
    client.force_login(agent)
    html = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert 'class="undone"' in html and "by alice" in html


# --- nothing undone is learned from or reported --------------------------------------


def test_an_undone_decision_is_not_training_data(agent: Any, ticket: Ticket, categories: Any) -> None:
    triage(agent, ticket, categories)
    assert ticket.pk in learning.training_data().ids
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert ticket.pk not in learning.training_data().ids
    assert "transfers" not in learning.training_classes()


def test_undone_decisions_do_not_count_towards_a_retrain(
    agent: Any, live_model: Any, categories: Any, settings: Any
) -> None:
    settings.RETRAIN_AFTER_DECISIONS = 3
    tickets = [services.ticket_ingest(subject=f"t{i}", body="my transfer has not arrived").ticket for i in range(3)]
    for t in tickets:
        triage(agent, t, categories)
    services.decision_undo(ticket_id=tickets[0].pk, agent=agent)
    assert retrain_if_due() is None  # two decisions count, not three
    triage(agent, tickets[0], categories)  # decided again: this one counts
    run = retrain_if_due()
    assert run is not None and run.trigger == TrainingRun.Trigger.DECISIONS


def test_undone_decisions_leave_the_reports(agent: Any, second_agent: Any) -> None:
    seeded = seed(agent, second_agent, override_first=False)
    params = QueryDict(mutable=True)
    params.update(RANGE)
    window = parse_filter(params)
    before = [(r.shown, r.accepted) for r in acceptance.report_acceptance(window, period="day")]
    assert before[0] == (5, 4)
    # Alice's accepted row 1 (DAY1, 10:01), undone straight away.
    first = seeded.tickets[0]
    with at(DAY1 + timedelta(minutes=1, seconds=3)):
        services.decision_undo(ticket_id=first.pk, agent=agent)
    assert not DecisionFact.objects.filter(ticket=first).exists()
    after = [(r.shown, r.accepted) for r in acceptance.report_acceptance(window, period="day")]
    assert after == [(4, 3), before[1]]
    alice = next(r for r in agents.report_agents(window) if r.username == "alice")
    assert alice.decisions == 4
    # Her next decision of that hour now opens it: her hours worked are unchanged.
    assert DecisionFact.objects.filter(agent=agent, opens_hour=True).count() == 2


def test_an_undone_decision_is_left_out_of_the_threshold_preview(agent: Any, ticket: Ticket, categories: Any) -> None:
    category = ticket.live_prediction.suggested
    triage(agent, ticket, categories, category.slug)
    assert threshold_preview(category, [0.0])[0].decisions == 1
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    assert threshold_preview(category, [0.0])[0].decisions == 0


def test_an_undone_decision_is_no_verdict_on_a_routing_rule(agent: Any, categories: Any) -> None:
    from triage.models import RoutingRule
    from triage.taxonomy.rules import rule_stats

    rule = RoutingRule.objects.create(name="stolen", pattern="stolen", category=categories["lost-or-stolen-card"])
    ticket = services.ticket_ingest(subject="stolen", body="my card was stolen").ticket
    triage(agent, ticket, categories, "transfers")
    stats = rule_stats([rule])[rule.pk]
    assert (stats.decided, stats.backtest_matched) == (1, 1)
    services.decision_undo(ticket_id=ticket.pk, agent=agent)
    stats = rule_stats([rule])[rule.pk]
    assert (stats.decided, stats.backtest_matched) == (0, 0)


# --- the API ------------------------------------------------------------------------


def test_the_api_undoes_my_triage(agent: Any, agent_client: APIClient, ticket: Ticket) -> None:
    triaged = agent_client.post(f"/api/tickets/{ticket.pk}/triage/", {"category": "transfers"}, format="json")
    assert triaged.status_code == 200 and 0 < triaged.json()["undo_seconds"] <= 10
    response = undo(agent_client, ticket)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ticket"]["status"] == "new" and body["ticket"]["category"] is None
    assert body["decision"]["id"] == triaged.json()["decision"]["id"] and body["undone_by"] == "alice"
    assert f"#{ticket.pk}" in body["detail"]


def test_a_losing_triage_has_nothing_to_undo(agent_client: APIClient, second_agent: Any, ticket: Ticket) -> None:
    agent_client.post(f"/api/tickets/{ticket.pk}/triage/", {"category": "transfers"}, format="json")
    late = client_for(second_agent).post(f"/api/tickets/{ticket.pk}/triage/", {"category": "transfers"}, format="json")
    assert late.status_code == 409 and late.json()["undo_seconds"] == 0


@pytest.mark.parametrize(
    ("case", "reason"),
    [("other agent", "not_yours"), ("too late", "expired"), ("twice", "nothing_to_undo"), ("acted on", "acted_on")],
)
def test_a_refused_undo_is_a_409_with_its_reason(
    agent: Any, second_agent: Any, agent_client: APIClient, ticket: Ticket, categories: Any, case: str, reason: str
) -> None:
    decision = triage(agent, ticket, categories)
    client = client_for(second_agent) if case == "other agent" else agent_client
    if case == "twice":
        assert undo(agent_client, ticket).status_code == 200
    elif case == "acted on":
        triage(second_agent, ticket, categories, "suspected-fraud")
    later = decision.created_at + timedelta(minutes=5 if case == "too late" else 0, seconds=1)
    with at(later):
        response = undo(client, ticket)
    assert response.status_code == 409, response.content
    assert response.json()["reason"] == reason and response.json()["detail"]


def test_undo_of_an_unknown_ticket_is_a_404_and_a_bad_id_a_400(agent_client: APIClient, categories: Any) -> None:
    assert agent_client.post("/api/tickets/999999/undo/").status_code == 404
    bad = agent_client.post("/api/tickets/abc/undo/")
    assert bad.status_code == 400 and "ticket_id" in bad.json()


def test_only_roles_that_triage_may_undo(
    agent: Any, ticket: Ticket, categories: Any, integration: Any, outsider: Any
) -> None:
    triage(agent, ticket, categories)
    assert undo(client_for(integration), ticket).status_code == 403
    assert undo(client_for(outsider), ticket).status_code == 403
    assert undo(APIClient(), ticket).status_code == 401
    assert not DecisionUndo.objects.exists()


def test_the_schema_documents_the_undo_and_its_refusals(agent_client: APIClient) -> None:
    schema = agent_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/tickets/{ticket_id}/undo/"]["post"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(operation["responses"])
    reason = schema["components"]["schemas"]["UndoRefusedOut"]["properties"]["reason"]
    enum = schema["components"]["schemas"][reason["allOf"][0]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert set(enum) == set(services.UndoRefusedError.REASONS)


@pytest.mark.django_db(transaction=True)
def test_a_triage_arriving_while_an_undo_commits_claims_the_waiting_ticket(
    agent: Any, second_agent: Any, live_model: Any, categories: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite locks the whole database instead")

    ticket = services.ticket_ingest(subject="Transfer", body="my transfer has not arrived").ticket
    triage(agent, ticket, categories)
    results: dict[str, Any] = {}

    def bob_triages() -> None:
        try:
            results["bob"] = services.ticket_triage(
                ticket=ticket, agent=second_agent, category=categories["fees-and-charges"]
            )
        finally:
            connection.close()

    with transaction.atomic():
        services.decision_undo(ticket_id=ticket.pk, agent=agent)  # not committed: holds the ticket's row
        bob = threading.Thread(target=bob_triages)
        bob.start()
        # Bob's claim saw the ticket triaged; he now waits for the row the undo holds.
        deadline = timezone.now() + timedelta(seconds=30)
        with connection.cursor() as cursor:
            while timezone.now() < deadline:
                # Inside a transaction pg_stat_activity is a snapshot until cleared.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("bob's triage never waited for the ticket's row")
    bob.join(timeout=30)
    assert results["bob"].applied  # the ticket was waiting again when he got it
    ticket.refresh_from_db()
    assert ticket.status == "triaged" and ticket.triaged_by == second_agent
