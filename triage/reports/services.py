"""Writes of the reports: the decision facts, the training reference for drift, and
the quality-check sample and its verdicts. (The acceptance-floor retrain is a
learning trigger: `triage.learning.triggers.acceptance_floor_check`.)

Where a fact is written: `decision_fact_record`, called by `triage.services.ticket_triage`
in the transaction that stores the decision; where it goes: `decision_fact_forget`, called
by `triage.services.decision_undo` when the agent takes the decision back.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections import Counter
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from triage.learning.registry import ArtifactRefusedError, model_version_load
from triage.ml.streaming_suggest import suggester_for
from triage.models import (
    Category,
    Decision,
    DecisionFact,
    ModelReference,
    ModelVersion,
    Prediction,
    QualityCheck,
    Ticket,
)
from triage.reports.models import CONFIDENCE_BUCKETS

logger = logging.getLogger(__name__)

# Words as the drift measure counts them: runs of two or more letters, any script.
WORD = re.compile(r"[^\W\d_]{2,}")
CONFIDENCE_HISTOGRAM_BINS = 10
REFERENCE_SAMPLE_ROWS = 2000
REFERENCE_VOCABULARY_ROWS = 20000
REFERENCE_VOCABULARY_MAX = 50000


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def confidence_bucket(confidence: float | None) -> int | None:
    if confidence is None:
        return None
    # The epsilon keeps 0.7 in bucket 70 whatever the float rounding of 0.7 * 100.
    return min(CONFIDENCE_BUCKETS, max(0, math.floor(confidence * CONFIDENCE_BUCKETS + 1e-9)))


def unseen_share(text: str, vocabulary: frozenset[str]) -> float | None:
    tokens = words(text)
    if not tokens or not vocabulary:
        return None
    return sum(1 for t in tokens if t not in vocabulary) / len(tokens)


@lru_cache(maxsize=4)
def _vocabulary(model_version_id: int) -> frozenset[str]:
    """The training vocabulary of a version, read once per process (empty until built)."""
    words_ = ModelReference.objects.filter(model_version_id=model_version_id).values_list("vocabulary", flat=True)
    found = words_.first()
    if found is None:
        return frozenset()
    return frozenset(found)


def decision_fact_record(*, decision: Decision, ticket: Ticket, prediction: Prediction | None) -> None:
    """Keep the fact table in step with a new decision (inside the caller's transaction).

    The first (applied) decision makes the ticket's fact; a later decision by another
    agent that picks a different category marks that fact overridden.
    """
    if not decision.applied:
        DecisionFact.objects.filter(ticket_id=ticket.pk, overridden=False).exclude(agent_id=decision.agent_id).exclude(
            chosen_id=decision.chosen_id
        ).update(overridden=True)
        return
    decision_facts_record_many([(decision, ticket, prediction)])


def decision_facts_record_many(applied: list[tuple[Decision, Ticket, Prediction | None]]) -> None:
    """The facts of applied decisions (one each, as `decision_fact_record` makes them), in
    one INSERT: a bulk triage of an outage's tickets costs one statement, not one per ticket."""
    facts, checks = [], []
    hours_open: dict[tuple[int, Any], bool] = {}
    for decision, ticket, prediction in applied:
        created = decision.created_at
        hour = timezone.localtime(created).replace(minute=0, second=0, microsecond=0)
        key = (decision.agent_id, hour)
        if key not in hours_open:
            hours_open[key] = not DecisionFact.objects.filter(
                agent_id=decision.agent_id, created_at__gte=hour, created_at__lt=hour + timedelta(hours=1)
            ).exists()
            opens_hour = hours_open[key]
        else:
            opens_hour = False  # an earlier decision of this batch opened it, if anything did
        facts.append(_fact(decision, ticket, prediction, opens_hour))
        # The quality-check sample: a random share of accepted suggestions (never the blind
        # slice, where nothing was suggested) goes to the supervisors' review list.
        if decision.accepted and not ticket.blind and random.random() < settings.REPORTS_QC_SHARE:
            checks.append(QualityCheck(decision=decision, ticket_id=ticket.pk))
    DecisionFact.objects.bulk_create(facts)
    QualityCheck.objects.bulk_create(checks)


def _fact(decision: Decision, ticket: Ticket, prediction: Prediction | None, opens_hour: bool) -> DecisionFact:
    # A routing rule's suggestion (no model version) has no confidence or vocabulary of
    # a model: it stays out of the reliability, coverage and drift figures.
    version_id = prediction.model_version_id if prediction else None
    model_confidence = prediction.confidence if prediction and version_id else None
    vocabulary = _vocabulary(version_id) if version_id else frozenset()
    if version_id and not vocabulary:
        _vocabulary.cache_clear()  # built since: look again next time, not now (hot path)
    created = decision.created_at
    local_day = timezone.localdate(created)
    return DecisionFact(
        decision=decision,
        ticket_id=ticket.pk,
        agent_id=decision.agent_id,
        model_version_id=decision.model_version_id,
        suggested_id=decision.suggested_id,
        chosen_id=decision.chosen_id,
        accepted=decision.accepted,
        blind=ticket.blind,
        confidence=model_confidence,
        needs_human=bool(version_id and prediction and prediction.needs_human),
        abstain_reason=prediction.abstain_reason if version_id and prediction else "",
        confidence_bucket=confidence_bucket(model_confidence),
        language=ticket.language,
        unseen_share=unseen_share(f"{ticket.subject}\n{ticket.body}", vocabulary) if vocabulary else None,
        seconds_taken=decision.seconds_taken,
        opens_hour=opens_hour,
        created_at=created,
        day=local_day,
        week=local_day - timedelta(days=local_day.weekday()),
    )


def decision_fact_forget(*, decision: Decision) -> None:
    """Take an undone decision out of the reports (inside the undo's transaction): its
    fact and its quality check waiting for review go; the decision itself stays."""
    fact = DecisionFact.objects.filter(decision_id=decision.pk).first()
    QualityCheck.objects.filter(decision_id=decision.pk, reviewed_at__isnull=True).delete()
    if fact is None:
        return
    fact.delete()
    if fact.opens_hour:
        # The agent's next decision of that hour now opens it (the hours-worked count).
        hour = timezone.localtime(fact.created_at).replace(minute=0, second=0, microsecond=0)
        following = (
            DecisionFact.objects.filter(
                agent_id=fact.agent_id, created_at__gte=fact.created_at, created_at__lt=hour + timedelta(hours=1)
            )
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:1]
        )
        DecisionFact.objects.filter(pk__in=list(following)).update(opens_hour=True)


class ReviewError(Exception):
    """A quality check that cannot take this verdict (already reviewed)."""


@transaction.atomic
def quality_check_review(*, check: QualityCheck, reviewer: Any, category: Category) -> QualityCheck:
    """Record a supervisor's verdict on an accepted suggestion.

    A different category corrects the ticket's confirmed label (training learns
    from it like any decision), is stored as the reviewer's own decision, and marks
    the agent's fact overridden.
    """
    claimed = QualityCheck.objects.filter(pk=check.pk, reviewed_at__isnull=True).update(
        reviewer=reviewer, verdict=category, correct=None, reviewed_at=timezone.now()
    )
    if claimed != 1:
        raise ReviewError(f"quality check #{check.pk} was already reviewed")
    decision = Decision.objects.get(pk=check.decision_id)
    correct = decision.chosen_id == category.pk
    QualityCheck.objects.filter(pk=check.pk).update(correct=correct)
    if not correct:
        now = timezone.now()
        Ticket.objects.filter(pk=check.ticket_id).update(
            category=category, label_source=Ticket.LabelSource.AGENT, triaged_at=now, triaged_by=reviewer
        )
        Decision.objects.create(
            ticket_id=check.ticket_id,
            agent=reviewer,
            suggested_id=decision.suggested_id,
            chosen=category,
            accepted=False,
            applied=True,
            model_version_id=decision.model_version_id,
        )
        DecisionFact.objects.filter(decision_id=decision.pk).update(overridden=True)
    check.refresh_from_db()
    return check


def _training_tickets(version: ModelVersion) -> Any:
    tickets = Ticket.objects.filter(category__isnull=False, category__is_active=True)
    if version.data_from is not None:
        tickets = tickets.filter(received_at__gte=version.data_from)
    return tickets.filter(received_at__lte=version.data_to or version.created_at)


def model_reference_build(*, version: ModelVersion) -> ModelReference:
    """Measure and store what `version` was trained on (idempotent: replaces the old one)."""
    tickets = _training_tickets(version)
    counts = dict(tickets.values_list("category__slug").annotate(n=Count("id")).values_list("category__slug", "n"))
    total = sum(counts.values()) or 1
    class_mix = {slug: n / total for slug, n in counts.items()}
    recent = list(tickets.order_by("-received_at", "-id").values_list("subject", "body")[:REFERENCE_VOCABULARY_ROWS])
    texts = [f"{subject}\n{body}" for subject, body in reversed(recent)]
    frequency: Counter[str] = Counter()
    for text in texts:
        frequency.update(words(text))
    vocabulary = sorted(word for word, _ in frequency.most_common(REFERENCE_VOCABULARY_MAX))
    # "Normal" novelty: the newest fifth of the tickets against the older ones' words.
    cut = int(len(texts) * 0.8)
    older: set[str] = set()
    for text in texts[:cut]:
        older.update(words(text))
    shares = [s for s in (unseen_share(text, frozenset(older)) for text in texts[cut:]) if s is not None]
    sample = recent[:REFERENCE_SAMPLE_ROWS]
    histogram = _confidence_histogram(version, sample)
    reference, _ = ModelReference.objects.update_or_create(
        model_version=version,
        defaults={
            "class_mix": class_mix,
            "confidence_histogram": histogram,
            "vocabulary": vocabulary,
            "unseen_share": sum(shares) / len(shares) if shares else 0.0,
            "sample_rows": len(sample),
        },
    )
    _vocabulary.cache_clear()
    return reference


def _confidence_histogram(version: ModelVersion, sample: list[tuple[str, str]]) -> list[float]:
    """The version's confidence on a sample of its own training tickets, as bin shares.

    Measured on tickets it learnt from, so it leans confident: the drift report compares
    weeks against it with PSI, which a uniform lean moves little."""
    if not sample:
        return []
    try:
        suggester = suggester_for(model_version_load(version))
        confidences = [s.confidence for s in suggester.suggest_many(sample)]
    except ArtifactRefusedError:
        logger.exception("no confidence reference for v%s: its artifact was refused", version.version)
        return []
    bins = [0] * CONFIDENCE_HISTOGRAM_BINS
    for c in confidences:
        bins[min(CONFIDENCE_HISTOGRAM_BINS - 1, max(0, int(c * CONFIDENCE_HISTOGRAM_BINS)))] += 1
    return [b / len(confidences) for b in bins]


def model_reference_ensure() -> ModelReference | None:
    """Build the live version's reference if it has none yet (run by the reports housekeeping)."""
    live = ModelVersion.objects.live()
    if live is None or ModelReference.objects.filter(model_version=live).exists():
        return None
    return model_reference_build(version=live)
