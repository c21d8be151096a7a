"""Writes. Every change to tickets and decisions goes through these functions.

Where a ticket enters: `ticket_ingest`. Where a decision is stored: `ticket_triage`.
"""

from __future__ import annotations

import logging
import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from triage import broadcast, serving
from triage.db import insert_parent_and_child
from triage.integrations import outbox
from triage.ml.language import detect_language
from triage.models import Category, Decision, DecisionUndo, Prediction, QualityCheck, Queue, Ticket
from triage.reports.services import decision_fact_forget, decision_fact_record, decision_facts_record_many
from triage.selectors import with_live_prediction
from triage.taxonomy.rules import rule_match

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    ticket: Ticket
    prediction: Prediction | None
    created: bool


@dataclass(frozen=True)
class TriageResult:
    ticket: Ticket
    decision: Decision
    applied: bool


def _classify(ticket: Ticket, model: serving.LoadedModel | None) -> Prediction | None:
    """The model's suggestion as an unsaved Prediction, or None without a model."""
    if model is None:
        return None
    try:
        result = model.suggest(ticket.subject, ticket.body)
    except Exception:
        # A broken model must not stop tickets coming in: store it unsuggested, loudly.
        logger.exception("model v%s failed to classify a ticket; storing it without a suggestion", model.version)
        return None
    if result is None:
        return None
    suggestion, category, cached = result
    abstain_reason = model.abstain_reason(suggestion)
    return Prediction(
        ticket=ticket,
        model_version=model.row,
        suggested=category,
        confidence=min(1.0, max(0.0, float(suggestion.confidence))),
        alternatives=[{"category": label, "confidence": round(float(p), 4)} for label, p in suggestion.alternatives],
        reasons=[{"term": term, "weight": round(float(w), 4)} for term, w in suggestion.reasons],
        needs_human=bool(abstain_reason),
        abstain_reason=abstain_reason,
        cached=cached,
    )


def _shadow_prediction(ticket: Ticket) -> Prediction | None:
    """The shadow version's prediction, stored beside the live one but never shown."""
    shadow = serving.shadow_model()
    prediction = _classify(ticket, shadow) if shadow is not None else None
    if prediction is not None:
        prediction.is_live = False
    return prediction


def ticket_ingest(
    *,
    subject: str,
    body: str,
    source: str = "api",
    external_id: str | None = None,
    channel: str = "api",
    customer_ref: str = "",
    received_at: datetime | None = None,
    queue: Queue | None = None,
) -> IngestResult:
    """Store a new ticket with the live model's suggestion, record the event for
    webhook endpoints (`ticket.suggested` or `ticket.auto_triaged`) in the same
    transaction, then tell the agents' queues.

    Idempotent on (source, external_id): a repeat, even a concurrent one, gets
    the ticket stored first and `created=False`.

    `queue`: the queue of the channel it came through (a mailbox's, a helpdesk's);
    without one, its suggested category's queue.

    Text is stored in Unicode's composed form (NFC): "é" typed as "e" plus a
    combining accent is the same "é" to the model, its reasons and the page.
    """
    subject, body = unicodedata.normalize("NFC", subject), unicodedata.normalize("NFC", body)
    model = serving.active_model()
    ticket = Ticket(
        source=source,
        external_id=external_id or None,
        subject=subject,
        body=body,
        channel=channel,
        customer_ref=customer_ref,
        received_at=received_at or timezone.now(),
        language=model.language(subject, body) if model else detect_language(f"{subject}\n{body}"),
        queue=queue,
    )
    # Classify outside the transaction: it is CPU work and holds no lock.
    # Routing rules come first; the model's ranking then gives their alternatives.
    ruled = _rule_prediction(ticket, model)
    prediction = ruled[0] if ruled else _classify(ticket, model)
    # The blind slice: a random few are shown without a suggestion, so agents'
    # choices on them measure the model without anchoring on it.
    ticket.blind = ruled is None and prediction is not None and random.random() < settings.BLIND_SHARE
    _route(ticket, prediction, rule_urgent=bool(ruled and ruled[1]))
    shadow = _shadow_prediction(ticket)
    auto = ticket.label_source == Ticket.LabelSource.AUTO
    try:
        # The ticket, its predictions and its event commit together; inside a
        # caller's atomic block this is a savepoint, which keeps a duplicate recoverable.
        with transaction.atomic():
            _store(ticket, prediction)
            if shadow is not None:
                shadow.ticket = ticket
                shadow.save()
            outbox.event_record(
                event_type=outbox.TICKET_AUTO_TRIAGED if auto else outbox.TICKET_SUGGESTED,
                ticket=ticket,
                new_ticket=True,
                data=outbox.ticket_data(ticket, prediction=prediction),
            )
            if auto:
                transaction.on_commit(partial(broadcast.ticket_auto_triaged, ticket, prediction))
            else:
                transaction.on_commit(partial(broadcast.ticket_added, ticket, prediction))
    except IntegrityError:
        existing = _existing_ticket(source, ticket.external_id)
        if existing is None:
            raise
        return IngestResult(ticket=existing, prediction=existing.live_prediction, created=False)
    ticket._live_predictions = [prediction] if prediction else []  # type: ignore[attr-defined]
    return IngestResult(ticket=ticket, prediction=prediction, created=True)


def _rule_prediction(ticket: Ticket, model: serving.LoadedModel | None) -> tuple[Prediction, bool] | None:
    """Routing rules run before the model: the first match makes the suggestion, with
    what it matched; the model's other choices are its alternatives, and its reasons
    are kept when it chose the rule's category too."""
    found = rule_match(ticket.subject, ticket.body)
    if found is None:
        return None
    rule = found.rule
    guess = _classify(ticket, model)
    alternatives: list[dict[str, Any]] = []
    reasons: list[dict[str, Any]] = []
    if guess is not None:
        ranked = [{"category": guess.suggested.slug, "confidence": round(guess.confidence, 4)}, *guess.alternatives]
        alternatives = [a for a in ranked if a["category"] != rule.category.slug]
        reasons = guess.reasons if guess.suggested_id == rule.category.pk and not guess.needs_human else []
    prediction = Prediction(
        ticket=ticket,
        model_version=None,
        rule_id=rule.id,
        rule_name=rule.name,
        rule_matched=found.matched[:200],
        suggested=rule.category,
        confidence=1.0,
        alternatives=alternatives,
        reasons=reasons,
    )
    return prediction, rule.urgent


def _route(ticket: Ticket, prediction: Prediction | None, rule_urgent: bool) -> None:
    """Queue and urgency from the suggestion; auto-triage above the category's threshold."""
    if prediction is None:
        return
    category = prediction.suggested
    if ticket.queue is None:  # the channel's own queue comes first
        ticket.queue = category.queue  # loaded with the category: no query, here or in the broadcast
    ticket.urgent = rule_urgent or category.urgent
    threshold = category.auto_threshold
    if (
        prediction.model_version_id is not None
        and threshold is not None
        and not prediction.needs_human
        and not ticket.blind
        and prediction.confidence >= threshold
    ):
        ticket.status = Ticket.Status.TRIAGED
        ticket.category = category
        ticket.label_source = Ticket.LabelSource.AUTO
        ticket.triaged_at = timezone.now()
        logger.info(
            "auto-triaged a ticket as %s (confidence %.3f >= threshold %.3f)",
            category.slug,
            prediction.confidence,
            threshold,
        )


def _store(ticket: Ticket, prediction: Prediction | None) -> None:
    """Write the ticket and its prediction together, in as few round trips as the database allows."""
    if prediction is None:
        ticket.save()
    elif connection.vendor == "postgresql":
        insert_parent_and_child(ticket, prediction, "ticket_id")
    else:
        with transaction.atomic():
            ticket.save()
            prediction.ticket = ticket
            prediction.save()


def _existing_ticket(source: str, external_id: str | None) -> Ticket | None:
    if not external_id:
        return None
    return with_live_prediction(Ticket.objects.filter(source=source, external_id=external_id)).first()


@transaction.atomic
def ticket_triage(
    *,
    ticket: Ticket,
    agent: User,
    category: Category,
    seconds_taken: float | None = None,
) -> TriageResult:
    """Record an agent's decision. The first decision on a ticket wins; later ones are
    recorded with applied=False and the ticket is left as the first agent set it."""
    # Read again under a row lock: a merge or retire of this category holds the row
    # until it commits, so a decision waits for it, then sees it closed, rather than
    # landing on a category the merge has already emptied.
    # (No join here: a row re-read after a lock wait comes back fresh, a joined one may not.)
    category = Category.objects.select_for_update(no_key=True).get(pk=category.pk)
    if not category.is_active:
        raise CategoryClosedError(category)
    live = Prediction.objects.filter(ticket=ticket, is_live=True).select_related("suggested", "model_version").first()
    now = timezone.now()
    # The conditional UPDATE is the claim: of two agents, exactly one sees a row count of 1.
    claim = partial(
        Ticket.objects.filter(pk=ticket.pk, status=Ticket.Status.NEW).update,
        status=Ticket.Status.TRIAGED,
        category=category,
        label_source=Ticket.LabelSource.AGENT,
        triaged_at=now,
        triaged_by=agent,
    )
    applied = claim() == 1
    if not applied and _waiting_again(ticket):
        # Its triage was undone while this claim was on its way: the ticket is waiting.
        applied = claim() == 1
    if not applied and (repeat := _repeated_decision(ticket=ticket, agent=agent, category=category)):
        # The same agent sending the same choice again (a retry, a double key press, a
        # client retrying its 409) gets its first answer; history holds one decision.
        ticket.refresh_from_db(fields=["status", "category", "label_source", "triaged_at", "triaged_by"])
        return TriageResult(ticket=ticket, decision=repeat, applied=repeat.applied)
    decision = _decision_record(
        ticket=ticket, agent=agent, category=category, live=live, applied=applied, seconds_taken=seconds_taken
    )
    if applied:
        transaction.on_commit(partial(broadcast.ticket_triaged, ticket, decision))
    return TriageResult(ticket=ticket, decision=decision, applied=applied)


def _decision_record(
    *,
    ticket: Ticket,
    agent: User,
    category: Category,
    live: Prediction | None,
    applied: bool,
    seconds_taken: float | None,
) -> Decision:
    """Store one decision with what every decision brings (`_decision_effects`)."""
    decision = Decision.objects.create(**_decision_fields(ticket, agent, category, live, applied, seconds_taken))
    ticket.refresh_from_db(fields=["status", "category", "label_source", "triaged_at", "triaged_by"])
    _decision_effects(decision=decision, ticket=ticket, live=live)
    return decision


def _decision_fields(
    ticket: Ticket,
    agent: User,
    category: Category,
    live: Prediction | None,
    applied: bool,
    seconds_taken: float | None,
) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "agent": agent,
        "suggested": live.suggested if live else None,
        "chosen": category,
        "accepted": live is not None and live.suggested_id == category.pk,
        "applied": applied,
        "model_version": live.model_version if live else None,
        "seconds_taken": seconds_taken,
    }


def _decision_effects(*, decision: Decision, ticket: Ticket, live: Prediction | None) -> None:
    """What every stored decision, single or bulk, brings: its report fact and, when
    applied, its outbound event (`ticket` as the decision left it)."""
    decision_fact_record(decision=decision, ticket=ticket, prediction=live)
    if decision.applied:
        outbox.event_record(
            event_type=outbox.TICKET_TRIAGED,
            ticket=ticket,
            data=outbox.ticket_data(ticket, prediction=live, decision=decision),
        )


@dataclass(frozen=True)
class BulkTriageResult:
    triaged: list[int]
    # Taken by another agent (or the model) first, or being triaged at this moment: skipped.
    taken: list[int]
    # No such ticket.
    missing: list[int]


@transaction.atomic
def tickets_triage_bulk(*, ticket_ids: list[int], agent: User, category: Category) -> BulkTriageResult:
    """Triage many waiting tickets to one category in one transaction, each with its own
    decision, as `ticket_triage` records it. A ticket another agent triaged first, or is
    triaging at this moment (its row is locked), is skipped and reported, not decided:
    an outage's storm of near-identical tickets is one request, and the pages hear of
    it once, after commit."""
    category = Category.objects.select_for_update(no_key=True).get(pk=category.pk)
    if not category.is_active:
        raise CategoryClosedError(category)
    wanted = list(dict.fromkeys(ticket_ids))
    # The claim: rows nobody else holds, still waiting; a locked row is another
    # agent's triage under way, so skip it rather than wait for it.
    claimed = list(
        Ticket.objects.select_for_update(skip_locked=True)
        .filter(pk__in=wanted, status=Ticket.Status.NEW)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    existing = set(Ticket.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    now = timezone.now()
    Ticket.objects.filter(pk__in=claimed, status=Ticket.Status.NEW).update(
        status=Ticket.Status.TRIAGED,
        category=category,
        label_source=Ticket.LabelSource.AGENT,
        triaged_at=now,
        triaged_by=agent,
    )
    done = list(with_live_prediction(Ticket.objects.filter(pk__in=claimed)).order_by("pk"))
    # One INSERT each for the decisions (one row per ticket), their facts and their events.
    decisions = Decision.objects.bulk_create(
        [Decision(**_decision_fields(t, agent, category, t.live_prediction, True, None)) for t in done]
    )
    decision_facts_record_many([(d, t, t.live_prediction) for t, d in zip(done, decisions, strict=True)])
    outbox.events_record_many(
        event_type=outbox.TICKET_TRIAGED,
        items=[
            (t, outbox.ticket_data(t, prediction=t.live_prediction, decision=d))
            for t, d in zip(done, decisions, strict=True)
        ],
    )
    if done:
        transaction.on_commit(partial(broadcast.tickets_triaged_bulk, done, agent.get_username(), category.name))
    logger.info("%s triaged %d tickets as %s in one action", agent.get_username(), len(done), category.slug)
    triaged = {t.pk for t in done}
    return BulkTriageResult(
        triaged=sorted(triaged),
        taken=[pk for pk in wanted if pk in existing and pk not in triaged],
        missing=[pk for pk in wanted if pk not in existing],
    )


def _waiting_again(ticket: Ticket) -> bool:
    """Whether the ticket waits in the queue, read under its row lock (an undo holds it until it commits)."""
    status = Ticket.objects.select_for_update().filter(pk=ticket.pk).values_list("status", flat=True).first()
    return status == Ticket.Status.NEW


def _repeated_decision(*, ticket: Ticket, agent: User, category: Category) -> Decision | None:
    """This agent's decision with this choice since the ticket was last triaged, winner or not."""
    # The ticket's row lock queues this agent's concurrent retries behind each other,
    # so the second one finds the first one's decision instead of storing its own.
    triaged_at = Ticket.objects.select_for_update().filter(pk=ticket.pk).values_list("triaged_at", flat=True).first()
    if triaged_at is None:
        return None
    return (
        Decision.objects.filter(ticket=ticket, agent=agent, chosen=category, created_at__gte=triaged_at)
        .order_by("-created_at", "-pk")
        .first()
    )


class CategoryClosedError(ValueError):
    """The chosen category was retired or merged away (meanwhile, or before)."""

    def __init__(self, category: Category) -> None:
        self.category = category
        into = category.merged_into.name if category.merged_into_id and category.merged_into else None
        detail = f"was merged into “{into}”" if into else "is retired"
        super().__init__(f"Category “{category.name}” {detail}: choose again.")


class UndoError(Exception):
    """The ticket is no longer auto-triaged (undone already, or never was)."""


@transaction.atomic
def ticket_auto_undo(*, ticket_id: int, agent: User) -> Ticket:
    """Put an auto-triaged ticket back in the queue for an agent to decide."""
    undone = Ticket.objects.filter(
        pk=ticket_id, status=Ticket.Status.TRIAGED, label_source=Ticket.LabelSource.AUTO
    ).update(status=Ticket.Status.NEW, category=None, label_source=Ticket.LabelSource.NONE, triaged_at=None)
    if undone != 1:
        raise UndoError(f"Ticket #{ticket_id} is not auto-triaged any more: someone undid or changed it.")
    logger.info("%s undid the auto-triage of ticket #%s", agent.get_username(), ticket_id)
    ticket = _undone_event_record(ticket_id, agent, what="auto_triage", decision_id=None)
    transaction.on_commit(partial(broadcast.ticket_auto_undone, ticket, agent.get_username()))
    return ticket


@dataclass(frozen=True)
class DecisionUndoResult:
    ticket: Ticket
    decision: Decision
    undo: DecisionUndo


class UndoRefusedError(Exception):
    """A triage that can't be undone; `reason` says why, for API clients."""

    NOTHING = "nothing_to_undo"
    NOT_YOURS = "not_yours"
    ACTED_ON = "acted_on"
    EXPIRED = "expired"
    CHANGED = "changed"
    REASONS = {
        NOTHING: "the ticket has no triage to take back",
        NOT_YOURS: "another agent triaged it",
        ACTED_ON: "another agent, or a supervisor's review, acted on it since",
        EXPIRED: "the undo window (ASSIST_UNDO_SECONDS) has passed",
        CHANGED: "the ticket was changed otherwise since (a merge or a relabel)",
    }

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def undo_seconds_left(decision: Decision, *, now: datetime | None = None) -> float:
    """How long its agent may still undo this decision (0 when it was not applied)."""
    if not decision.applied:
        return 0.0
    left = settings.UNDO_SECONDS - ((now or timezone.now()) - decision.created_at).total_seconds()
    return max(0.0, left)


@transaction.atomic
def decision_undo(*, ticket_id: int, agent: User) -> DecisionUndoResult:
    """Take back `agent`'s triage of a ticket within ASSIST_UNDO_SECONDS: the ticket
    waits in the queue again for everyone, the decision is kept and marked undone, and
    neither is learned from or reported.

    Refused (UndoRefusedError) when the ticket's triage is another agent's, another
    agent has acted on the ticket since, the window has passed, or the ticket was
    changed otherwise (a merge, a review). Raises Ticket.DoesNotExist for no ticket.
    """
    # The ticket's row lock orders this against every decision on it: each one is
    # stored under the same lock (ticket_triage's claim or its retry check).
    ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
    decision = (
        Decision.objects.filter(ticket_id=ticket_id, applied=True, undo__isnull=True)
        .select_related("agent", "chosen")
        .order_by("-pk")
        .first()
    )
    if decision is None:
        raise UndoRefusedError(UndoRefusedError.NOTHING, f"Ticket #{ticket_id} has no triage to undo.")
    if decision.agent_id != agent.pk:
        raise UndoRefusedError(
            UndoRefusedError.NOT_YOURS,
            f"Ticket #{ticket_id} was triaged by {decision.agent.get_username()}: only they can undo it.",
        )
    later = (
        Decision.objects.filter(ticket_id=ticket_id, pk__gt=decision.pk)
        .exclude(agent=agent)
        .select_related("agent")
        .order_by("pk")
        .first()
    )
    if later is not None:
        raise UndoRefusedError(
            UndoRefusedError.ACTED_ON,
            f"{later.agent.get_username()} has acted on ticket #{ticket_id} since: your triage stays.",
        )
    if QualityCheck.objects.filter(decision=decision, reviewed_at__isnull=False).exists():
        raise UndoRefusedError(
            UndoRefusedError.ACTED_ON, f"A supervisor has reviewed ticket #{ticket_id} since: your triage stays."
        )
    now = timezone.now()
    if undo_seconds_left(decision, now=now) <= 0:
        raise UndoRefusedError(
            UndoRefusedError.EXPIRED,
            f"Too late to undo ticket #{ticket_id}: a triage can be undone for {settings.UNDO_SECONDS} s.",
        )
    if not (
        ticket.status == Ticket.Status.TRIAGED
        and ticket.label_source == Ticket.LabelSource.AGENT
        and ticket.triaged_by_id == agent.pk
        and ticket.category_id == decision.chosen_id
    ):
        raise UndoRefusedError(UndoRefusedError.CHANGED, f"Ticket #{ticket_id} was changed since your triage.")
    undo = DecisionUndo.objects.create(decision=decision, agent=agent)
    Ticket.objects.filter(pk=ticket_id).update(
        status=Ticket.Status.NEW, category=None, label_source=Ticket.LabelSource.NONE, triaged_at=None, triaged_by=None
    )
    decision_fact_forget(decision=decision)
    logger.info("%s undid their triage of ticket #%s", agent.get_username(), ticket_id)
    ticket = _undone_event_record(ticket_id, agent, what="decision", decision_id=decision.pk)
    # Back in every queue page, as a new ticket arrives.
    transaction.on_commit(partial(broadcast.ticket_added, ticket, ticket.live_prediction))
    return DecisionUndoResult(ticket=ticket, decision=decision, undo=undo)


def _undone_event_record(ticket_id: int, agent: User, *, what: str, decision_id: int | None) -> Ticket:
    """The ticket back in the queue, reloaded with its live suggestion, and its
    `ticket.undone` event for the integrations (in the undo's transaction)."""
    ticket = with_live_prediction(Ticket.objects.filter(pk=ticket_id)).get()
    outbox.event_record(
        event_type=outbox.TICKET_UNDONE,
        ticket=ticket,
        data=outbox.ticket_data(
            ticket,
            prediction=ticket.live_prediction,
            undone={"what": what, "by": agent.get_username(), "decision_id": decision_id},
        ),
    )
    return ticket


def category_ensure(*, slug: str, name: str, description: str = "") -> Category:
    """The category with this slug, created if missing (imports and the demo seed)."""
    category, _ = Category.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    return category


def categories_create_bulk(*, names: dict[str, str]) -> dict[str, Category]:
    """New categories ({slug: name}) in a few statements, for an import's new labels;
    the caller has checked that no slug or name is taken (a clash is an IntegrityError)."""
    Category.objects.bulk_create([Category(slug=slug, name=name) for slug, name in names.items()], batch_size=1000)
    return {c.slug: c for c in Category.objects.filter(slug__in=list(names))}


@dataclass(frozen=True)
class HistoryRow:
    external_id: str
    subject: str
    body: str
    category: Category | None
    received_at: datetime
    channel: str = "api"
    customer_ref: str = ""


@transaction.atomic
def tickets_import(*, rows: list[HistoryRow], source: str) -> int:
    """Store a batch of historical tickets; labelled ones count as confirmed.

    Re-importing the same file adds nothing: (source, external_id) is unique.
    Returns how many rows were new.
    """
    before = Ticket.objects.filter(source=source).count()
    tickets = []
    for row in rows:
        subject, body = unicodedata.normalize("NFC", row.subject), unicodedata.normalize("NFC", row.body)
        tickets.append(
            Ticket(
                source=source,
                external_id=row.external_id,
                subject=subject,
                body=body,
                channel=row.channel,
                customer_ref=row.customer_ref,
                received_at=row.received_at,
                status=Ticket.Status.TRIAGED if row.category else Ticket.Status.NEW,
                category=row.category,
                label_source=Ticket.LabelSource.IMPORT if row.category else Ticket.LabelSource.NONE,
                triaged_at=row.received_at if row.category else None,
                language=detect_language(f"{subject}\n{body}"),
            )
        )
    Ticket.objects.bulk_create(tickets, ignore_conflicts=True)
    return Ticket.objects.filter(source=source).count() - before
