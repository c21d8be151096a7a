"""Waiting tickets follow the taxonomy.

A ticket in the queue whose live suggestion names a category that can't be picked
any more (retired, split, merged away) gets one that can: the category it was merged
into; for a split, the split's new categories ranked by text similarity (the guess the
relabel list uses: the model cannot know them yet), then the model's other choices;
else the model's next choice among the active categories. Both but a merge are marked
"needs a human" (reason "retired"); with no active choice left, no suggestion. Its
queue and urgency follow. Retire and split call this for the category they close;
housekeeping sweeps every minute for the tickets a web process classified in the
seconds before its category list caught up (MODEL_REFRESH_SECONDS), or while the
change was committing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from triage.broadcast import QUEUE_GROUP, group_send
from triage.models import Category, Prediction, Split, Ticket
from triage.taxonomy.selectors import merge_ends, split_choices
from triage.taxonomy.split_guess import guess_ranked, target_seeds, ticket_text

logger = logging.getLogger(__name__)


def _standing() -> dict[str, Category | None]:
    """Every category's slug -> the active category standing for it (itself, or the
    end of its merges), or None."""
    categories = {c.pk: c for c in Category.objects.select_related("queue")}
    ends = merge_ends(categories)
    return {c.slug: ends[pk] if ends[pk].is_active else None for pk, c in categories.items()}


def _ranked(prediction: Prediction, standing: dict[str, Category | None]) -> list[tuple[Category, float]]:
    """The suggestion and its alternatives as active categories, best first; a merged
    category's confidence counts for its survivor, as serving counts it."""
    merged: dict[int, tuple[Category, float]] = {}
    entries = [(prediction.suggested.slug, prediction.confidence)]
    entries += [(a.get("category", ""), float(a.get("confidence", 0.0))) for a in prediction.alternatives or []]
    for slug, confidence in entries:
        category = standing.get(slug)
        if category is not None:
            previous = merged.get(category.pk, (category, 0.0))[1]
            merged[category.pk] = (category, previous + confidence)
    return sorted(merged.values(), key=lambda item: -item[1])


def _split_rankings(predictions: list[Prediction]) -> dict[int, list[tuple[Category, float]]]:
    """For predictions of a split category: the split's active categories, likeliest first."""
    by_source: dict[int, list[Prediction]] = {}
    for prediction in predictions:
        by_source.setdefault(prediction.suggested_id, []).append(prediction)
    rankings: dict[int, list[tuple[Category, float]]] = {}
    seen: set[int] = set()
    for split in Split.objects.filter(source_id__in=list(by_source)).order_by("-pk"):
        if split.source_id in seen:  # the latest split of a category counts
            continue
        seen.add(split.source_id)
        targets = split_choices(split)
        if not targets:
            continue
        waiting = by_source[split.source_id]
        rows = Ticket.objects.filter(pk__in=[p.ticket_id for p in waiting]).values_list("pk", "subject", "body")
        texts = {pk: ticket_text(subject, body) for pk, subject, body in rows}
        ranked = guess_ranked([texts.get(p.ticket_id, "") for p in waiting], targets, target_seeds(targets))
        by_pk = {t.pk: t for t in targets}
        for prediction, ranks in zip(waiting, ranked, strict=True):
            rankings[prediction.pk] = [(by_pk[pk], confidence) for pk, confidence in ranks]
    return rankings


@transaction.atomic
def waiting_resuggest(category_ids: Iterable[int] | None = None) -> int:
    """Move waiting tickets off suggestions of inactive categories (these ones, or any
    when None); returns how many tickets changed."""
    waiting = Prediction.objects.filter(
        is_live=True, ticket__status=Ticket.Status.NEW, suggested__is_active=False
    ).select_related("suggested", "rule")
    if category_ids is not None:
        waiting = waiting.filter(suggested_id__in=list(category_ids))
    predictions = list(waiting.select_for_update(of=("self",)))
    if not predictions:
        return 0
    standing = _standing()
    split_ranked = _split_rankings(predictions)
    changed: list[Prediction] = []
    tickets: list[Ticket] = []
    for prediction in predictions:
        ranked = _ranked(prediction, standing)
        if prediction.pk in split_ranked:
            offered = split_ranked[prediction.pk]
            ranked = offered + [(c, p) for c, p in ranked if all(c.pk != o.pk for o, _ in offered)]
        ticket = Ticket(pk=prediction.ticket_id)
        if not ranked:
            prediction.is_live = False  # kept in history; the ticket waits without a suggestion
            ticket.queue, ticket.urgent = None, False
        else:
            best, confidence = ranked[0]
            own = standing.get(prediction.suggested.slug) is best  # merged: the model's own choice
            prediction.suggested = best
            prediction.confidence = min(1.0, confidence)
            prediction.alternatives = [{"category": c.slug, "confidence": round(p, 4)} for c, p in ranked[1:]]
            if not own:
                prediction.reasons = []  # the words weighed for the closed category, not this one
                prediction.needs_human = True
                prediction.abstain_reason = Prediction.AbstainReason.RETIRED
            ticket.queue = best.queue
            ticket.urgent = best.urgent or bool(prediction.rule and prediction.rule.urgent)
        changed.append(prediction)
        tickets.append(ticket)
    fields = ["suggested", "confidence", "alternatives", "reasons", "needs_human", "abstain_reason", "is_live"]
    Prediction.objects.bulk_update(changed, fields, batch_size=1000)
    Ticket.objects.bulk_update(tickets, ["queue", "urgent"], batch_size=1000)
    logger.info("%d waiting tickets moved off suggestions of closed categories", len(changed))
    return len(changed)


def waiting_sweep() -> int:
    """Housekeeping: the same for any waiting ticket (one query when there is none),
    then the queue pages reload their rows."""
    moved = waiting_resuggest()
    if moved:
        group_send(QUEUE_GROUP, {"type": "queue.event", "event": "rows_changed"})
    return moved
