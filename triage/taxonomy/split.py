"""Split A into B and C: A is retired, its confirmed tickets go to a relabel list with a
guess for each, and supervisors confirm the list in bulk (each confirmation relabels
the ticket and its decisions, keeps the old label, and asks for a retrain)."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from triage.learning.triggers import taxonomy_changed
from triage.models import Category, Decision, RoutingRule, Split, SplitItem, TaxonomyChange, Ticket
from triage.taxonomy import broadcast
from triage.taxonomy.alternatives import replace_in_waiting_alternatives
from triage.taxonomy.merge import relabel
from triage.taxonomy.selectors import split_choices
from triage.taxonomy.services import (
    TaxonomyError,
    _bump,
    _check_version,
    _locked,
    _rules_changed,
    category_create,
    record,
    snapshot,
)
from triage.taxonomy.split_guess import guess, target_seeds, ticket_text
from triage.taxonomy.waiting import waiting_resuggest


def _refresh_guesses(split: Split) -> None:
    # Only where the tickets can still go: a target merged away since counts as its
    # survivor, a retired one not at all.
    targets = split_choices(split)
    items = list(split.items.filter(chosen__isnull=True).select_related("ticket"))
    guesses = guess([ticket_text(i.ticket.subject, i.ticket.body) for i in items], targets, target_seeds(targets))
    for item, (category_id, confidence) in zip(items, guesses, strict=True):
        item.guess_id = category_id
        item.guess_confidence = round(confidence, 4)
    SplitItem.objects.bulk_update(items, ["guess", "guess_confidence"], batch_size=1000)


@transaction.atomic
def category_split(*, actor: Any, source_id: int, version: int, new_names: list[str]) -> Split:
    """Split A into two or more new categories. A is retired at once (no new suggestions);
    its confirmed tickets wait in the relabel list, still labelled A until confirmed."""
    names = [" ".join(n.split()) for n in new_names if n.strip()]
    if len(names) < 2:
        raise TaxonomyError("new_names", "A split needs at least two new categories, one name per line.")
    if len(names) > settings.TAXONOMY_MAX_SPLIT_NAMES:
        raise TaxonomyError(
            "new_names",
            f"A split makes at most {settings.TAXONOMY_MAX_SPLIT_NAMES} new categories, not {len(names):,}: "
            "split in steps, or create the categories first and merge into them.",
        )
    if len({n.lower() for n in names}) != len(names):
        raise TaxonomyError("new_names", "The new names must differ from each other.")
    source = _locked(source_id)
    _check_version(source, version)
    if not source.is_active:
        raise TaxonomyError("__all__", f"“{source.name}” is retired: there is nothing to split.")
    if source.children.filter(is_active=True).exists():
        raise TaxonomyError("__all__", f"“{source.name}” has subcategories: split them instead.")
    targets = []
    for name in names:
        try:
            targets.append(
                category_create(
                    actor=actor,
                    name=name,
                    description=f"Split from “{source.name}”.",
                    color=source.color,
                    parent=source.parent,
                    queue=source.queue,
                    urgent=source.urgent,
                    announce=False,  # the split tells the queue pages once, below
                )
            )
        except TaxonomyError as exc:
            raise TaxonomyError("new_names", exc.message) from None
    _bump(source, version, is_active=False)
    split = Split.objects.create(source=source, created_by=actor)
    split.targets.set(targets)
    # As on retire: waiting tickets stop suggesting or offering it, and its rules stop
    # routing to it. The model can't know the new categories before a retrain: waiting
    # tickets are offered them by text similarity (waiting.waiting_resuggest).
    replace_in_waiting_alternatives(source, None)
    resuggested = waiting_resuggest([source.pk])
    RoutingRule.objects.filter(category=source, is_active=True).update(is_active=False)
    transaction.on_commit(_rules_changed)
    SplitItem.objects.bulk_create(
        [
            SplitItem(split=split, ticket_id=pk)
            for pk in Ticket.objects.filter(category=source).values_list("pk", flat=True)
        ],
        batch_size=2000,
    )
    _refresh_guesses(split)
    record(
        action=TaxonomyChange.Action.SPLIT,
        actor=actor,
        category=source,
        summary=f"Split “{source.label}” into {', '.join(f'“{t.name}”' for t in targets)}",
        before=snapshot(source),
        after={
            "targets": [t.slug for t in targets],
            "relabel_list": split.items.count(),
            "split": split.pk,
            "waiting_resuggested": resuggested,
        },
    )
    transaction.on_commit(partial(broadcast.taxonomy_changed, reload=bool(resuggested)))
    return split


def split_items(split: Split) -> QuerySet[SplitItem]:
    return split.items.select_related("ticket", "guess", "chosen", "decided_by")


@transaction.atomic
def split_confirm(*, actor: Any, split_id: int, choices: dict[int, int]) -> int:
    """Relabel the chosen tickets of the list ({item id: target id}); returns how many."""
    split = Split.objects.select_for_update(of=("self",)).select_related("source").filter(pk=split_id).first()
    if split is None:
        raise TaxonomyError("__all__", "That split does not exist.")
    if not choices:
        raise TaxonomyError("__all__", "Select at least one ticket to confirm.")
    # The targets, or the survivors of those merged away since. Locked, so a category
    # being merged away or retired meanwhile is either seen as retired here or waits
    # until these tickets are relabelled (and then moves them).
    allowed = [c.pk for c in split_choices(split)]
    targets = {
        t.pk: t for t in Category.objects.select_for_update().filter(pk__in=allowed, is_active=True).order_by("pk")
    }
    bad = {c for c in choices.values() if c not in targets}
    if bad:
        raise TaxonomyError("__all__", "Choose one of the split's active categories for every selected ticket.")
    items = list(split.items.select_for_update().filter(pk__in=list(choices), chosen__isnull=True))
    if len(items) != len(choices):
        raise TaxonomyError(
            "__all__", "Some of these tickets were confirmed meanwhile by someone else: reload the list."
        )
    change = record(
        action=TaxonomyChange.Action.RELABEL,
        actor=actor,
        category=split.source,
        summary=f"Relabelled {len(items)} tickets of “{split.source.name}” (split #{split.pk})",
    )
    by_target: dict[int, list[int]] = defaultdict(list)
    for item in items:
        by_target[choices[item.pk]].append(item.ticket_id)
    moved: dict[str, int] = {}
    for target_id, ticket_ids in by_target.items():
        counts = relabel(
            change=change,
            tickets=Ticket.objects.filter(pk__in=ticket_ids),
            decisions=Decision.objects.filter(ticket_id__in=ticket_ids),
            source=split.source,
            target=targets[target_id],
        )
        moved[targets[target_id].slug] = counts["tickets"]
    now = timezone.now()
    for item in items:
        item.chosen_id = choices[item.pk]
        item.decided_by = actor
        item.decided_at = now
    SplitItem.objects.bulk_update(items, ["chosen", "decided_by", "decided_at"])
    change.after = {"moved": moved}
    change.save(update_fields=["after"])
    taxonomy_changed(change=change, reason=f"split of {split.source.slug}: {len(items)} tickets relabelled")
    transaction.on_commit(broadcast.taxonomy_changed)
    return len(items)


def split_refresh_guesses(*, split_id: int) -> None:
    """Guess again, now also learning from the tickets confirmed so far."""
    split = Split.objects.filter(pk=split_id).first()
    if split is not None:
        _refresh_guesses(split)
