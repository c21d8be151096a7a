"""Writes to the taxonomy: create, edit, retire, restore, thresholds, merge, queues.

Every write checks the version the admin started from (optimistic locking), is
recorded in TaxonomyChange (who, when, before, after), and tells the agents'
queues after commit. Bad input raises TaxonomyError naming the field; nothing
is stored then. Splits live in `split.py`, rules in `rules.py`, roles in `users.py`.
"""

from __future__ import annotations

import logging
import math
import re
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import slugify

from triage.models import (
    Category,
    Decision,
    ModelVersion,
    Prediction,
    Queue,
    RoutingRule,
    TaxonomyChange,
    Ticket,
)
from triage.taxonomy import broadcast, rules
from triage.taxonomy.alternatives import replace_in_waiting_alternatives
from triage.taxonomy.changes import ConflictError, TaxonomyError, record
from triage.taxonomy.waiting import waiting_resuggest

logger = logging.getLogger(__name__)

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def snapshot(category: Category) -> dict[str, Any]:
    return {
        "name": category.name,
        "slug": category.slug,
        "description": category.description,
        "color": category.color,
        "parent": category.parent.slug if category.parent_id and category.parent else None,
        "queue": category.queue.slug if category.queue_id and category.queue else None,
        "urgent": category.urgent,
        "auto_threshold": category.auto_threshold,
        "is_active": category.is_active,
    }


def _changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _locked(category_id: int) -> Category:
    try:
        return Category.objects.select_for_update(of=("self",)).select_related("parent", "queue").get(pk=category_id)
    except Category.DoesNotExist:
        raise TaxonomyError("__all__", "That category does not exist (any more).") from None


def _check_version(category: Category, version: int | None) -> None:
    if version is not None and category.version != version:
        raise ConflictError(f"Category “{category.name}”")


def _bump(category: Category, version: int, **fields: Any) -> None:
    """Write `fields` if the row is still at `version`; the conditional UPDATE is the lock."""
    updated = Category.objects.filter(pk=category.pk, version=version).update(version=version + 1, **fields)
    if updated != 1:
        raise ConflictError(f"Category “{category.name}”")
    for name, value in fields.items():
        setattr(category, name, value)
    category.version = version + 1


def _clean_identity(name: str, slug: str, exclude: int | None) -> tuple[str, str]:
    name = " ".join(name.split())
    if not name:
        raise TaxonomyError("name", "A category needs a name.")
    if len(name) > 120:
        raise TaxonomyError("name", "A name has at most 120 characters.")
    slug = slugify(slug or name)[:120]
    if not slug:
        raise TaxonomyError("slug", "The slug must contain letters or digits.")
    others = Category.objects.exclude(pk=exclude) if exclude else Category.objects.all()
    clash = others.filter(name__iexact=name).first()
    if clash is not None:
        state = "" if clash.is_active else " (retired)"
        raise TaxonomyError("name", f"A category named “{clash.name}”{state} already exists. Choose another name.")
    if others.filter(slug=slug).exists():
        raise TaxonomyError("slug", f"The slug “{slug}” is already used by another category.")
    return name, slug


# A description is the tooltip agents see, and every taxonomy event carries it to
# every open queue page: a paragraph, not a document.
DESCRIPTION_MAX_CHARS = 1000


def _clean_description(description: str) -> str:
    description = description.strip()
    if len(description) > DESCRIPTION_MAX_CHARS:
        raise TaxonomyError("description", f"A description has at most {DESCRIPTION_MAX_CHARS} characters.")
    return description


def _check_color(color: str) -> str:
    if not COLOR.match(color or ""):
        raise TaxonomyError("color", "A colour is written #rrggbb, for example #2357d9.")
    return color.lower()


def _slug_in_use(category: Category) -> bool:
    """Whether anything refers to the slug: a trained model's classes are slugs, and
    tickets, predictions and decisions would feed the next model."""
    return (
        any(category.slug in (m.classes or []) for m in ModelVersion.objects.only("classes").iterator())
        or Ticket.objects.filter(category=category).exists()
        or Prediction.objects.filter(suggested=category).exists()
        or Decision.objects.filter(Q(chosen=category) | Q(suggested=category)).exists()
    )


def _check_parent(parent: Category | None, category: Category | None) -> None:
    if parent is None:
        return
    # Lock the parent and read it anew, so that a concurrent merge or retire of it
    # either waits for this transaction (and then sees the new subcategory) or has
    # already committed (and this check sees it retired).
    locked = Category.objects.select_for_update().filter(pk=parent.pk).first()
    if locked is None:
        raise TaxonomyError("parent", "That parent category does not exist (any more).")
    parent = locked
    if category is not None and parent.pk == category.pk:
        raise TaxonomyError("parent", "A category cannot be its own parent.")
    if parent.parent_id is not None:
        raise TaxonomyError("parent", f"“{parent.name}” is itself a subcategory: only two levels are allowed.")
    if not parent.is_active:
        raise TaxonomyError("parent", f"“{parent.name}” is retired.")
    if category is not None and category.children.exists():
        raise TaxonomyError("parent", f"“{category.name}” has subcategories, so it cannot become one.")


@transaction.atomic
def category_create(
    *,
    actor: Any,
    name: str,
    slug: str = "",
    description: str = "",
    color: str = "#5d6677",
    parent: Category | None = None,
    queue: Queue | None = None,
    urgent: bool = False,
    min_examples: int | None = None,
) -> Category:
    """A new category. It is not suggested until it has `min_examples` confirmed tickets."""
    name, slug = _clean_identity(name, slug, exclude=None)
    _check_parent(parent, None)
    try:
        with transaction.atomic():
            category = Category.objects.create(
                name=name,
                slug=slug,
                description=_clean_description(description),
                color=_check_color(color),
                parent=parent,
                queue=queue,
                urgent=urgent,
                min_examples=settings.TAXONOMY_MIN_EXAMPLES if min_examples is None else min_examples,
            )
    except IntegrityError:  # a concurrent create took the name or slug
        raise TaxonomyError("name", f"A category named “{name}” or with slug “{slug}” already exists.") from None
    record(
        action=TaxonomyChange.Action.CREATE,
        actor=actor,
        category=category,
        summary=f"Created “{category.label}”",
        after=snapshot(category),
    )
    transaction.on_commit(broadcast.taxonomy_changed)
    return category


@transaction.atomic
def category_update(
    *,
    actor: Any,
    category_id: int,
    version: int,
    name: str,
    slug: str,
    description: str,
    color: str,
    parent: Category | None,
    queue: Queue | None,
    urgent: bool,
) -> Category:
    """Rename, describe, recolour, move under a parent, route to a queue, mark urgent."""
    category = _locked(category_id)
    _check_version(category, version)
    name, slug = _clean_identity(name, slug, exclude=category.pk)
    if slug != category.slug and _slug_in_use(category):
        raise TaxonomyError(
            "slug",
            f"“{category.slug}” can't change: tickets, models and API clients refer to it. Rename the name instead.",
        )
    _check_parent(parent, category)
    before = snapshot(category)
    try:
        with transaction.atomic():  # another admin may take the name between the check and here
            _bump(
                category,
                version,
                name=name,
                slug=slug,
                description=_clean_description(description),
                color=_check_color(color),
                parent=parent,
                queue=queue,
                urgent=urgent,
            )
    except IntegrityError:
        raise TaxonomyError("name", f"“{name}” or the slug “{slug}” was just taken by someone else.") from None
    old, new = _changed(before, snapshot(category))
    if not new:
        return category
    if "queue" in new or "urgent" in new:
        reroute_untriaged([category.pk])
    record(
        action=TaxonomyChange.Action.EDIT,
        actor=actor,
        category=category,
        summary=f"Edited “{category.label}”: {', '.join(new)}",
        before=old,
        after=new,
    )
    transaction.on_commit(broadcast.taxonomy_changed)
    return category


def reroute_untriaged(category_ids: list[int]) -> None:
    """Untriaged tickets suggested into these categories follow their queue and urgency;
    a ticket an urgent routing rule sent there stays urgent."""
    for category in Category.objects.filter(pk__in=category_ids):
        live = Prediction.objects.filter(is_live=True, ticket__status=Ticket.Status.NEW, suggested=category)
        Ticket.objects.filter(pk__in=live.values("ticket_id")).update(queue=category.queue_id, urgent=category.urgent)
        if not category.urgent:
            Ticket.objects.filter(pk__in=live.filter(rule__urgent=True).values("ticket_id")).update(urgent=True)


@transaction.atomic
def category_retire(*, actor: Any, category_id: int, version: int) -> Category:
    """No new suggestions go to a retired category; its tickets and decisions stay as they are."""
    category = _locked(category_id)
    _check_version(category, version)
    if not category.is_active:
        raise TaxonomyError("__all__", f"“{category.name}” is already retired.")
    if category.children.filter(is_active=True).exists():
        raise TaxonomyError("__all__", f"“{category.name}” has active subcategories: retire or move them first.")
    _bump(category, version, is_active=False)
    replace_in_waiting_alternatives(category, None)
    resuggested = waiting_resuggest([category.pk])
    rules = RoutingRule.objects.filter(category=category, is_active=True)
    rule_names = list(rules.values_list("name", flat=True))
    rules.update(is_active=False)
    record(
        action=TaxonomyChange.Action.RETIRE,
        actor=actor,
        category=category,
        summary=f"Retired “{category.label}”"
        + (f"; switched off rules: {', '.join(rule_names)}" if rule_names else ""),
        before={"is_active": True},
        after={"is_active": False, "rules_switched_off": rule_names, "waiting_resuggested": resuggested},
    )
    transaction.on_commit(_rules_changed)
    transaction.on_commit(partial(broadcast.taxonomy_changed, reload=bool(resuggested)))
    return category


@transaction.atomic
def category_restore(*, actor: Any, category_id: int, version: int) -> Category:
    category = _locked(category_id)
    _check_version(category, version)
    if category.is_active:
        raise TaxonomyError("__all__", f"“{category.name}” is not retired.")
    if category.merged_into_id:
        raise TaxonomyError("__all__", f"“{category.name}” was merged into another category; it cannot come back.")
    if category.parent_id and category.parent and not category.parent.is_active:
        raise TaxonomyError("__all__", f"Its parent “{category.parent.name}” is retired: restore that first.")
    _bump(category, version, is_active=True)
    record(
        action=TaxonomyChange.Action.RESTORE,
        actor=actor,
        category=category,
        summary=f"Restored “{category.label}”",
        before={"is_active": False},
        after={"is_active": True},
    )
    transaction.on_commit(broadcast.taxonomy_changed)
    return category


def parse_threshold(raw: Any) -> float | None:
    """ "" or None: no auto-triage. Otherwise a number from 0 to 1."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise TaxonomyError("threshold", f"“{raw}” is not a number: use a value from 0 to 1, e.g. 0.9.") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise TaxonomyError("threshold", f"{raw} is outside 0 to 1: use a value from 0 to 1, e.g. 0.9.")
    return value


@transaction.atomic
def category_threshold_set(*, actor: Any, category_id: int, version: int, threshold: Any) -> Category:
    """Above the threshold, the model's suggestion triages a ticket by itself (None: never)."""
    value = parse_threshold(threshold)
    category = _locked(category_id)
    _check_version(category, version)
    before = category.auto_threshold
    _bump(category, version, auto_threshold=value)
    record(
        action=TaxonomyChange.Action.THRESHOLD,
        actor=actor,
        category=category,
        summary=f"Auto-triage threshold of “{category.label}”: {_fmt(before)} → {_fmt(value)}",
        before={"auto_threshold": before},
        after={"auto_threshold": value},
    )
    transaction.on_commit(broadcast.taxonomy_changed)
    return category


def _rules_changed() -> None:
    rules.reset()


def _fmt(threshold: float | None) -> str:
    return "off" if threshold is None else f"{threshold:g}"


@transaction.atomic
def queue_create(*, actor: Any, name: str) -> Queue:
    name = " ".join(name.split())
    slug = slugify(name)[:80]
    if not name or not slug:
        raise TaxonomyError("name", "A queue needs a name with letters or digits.")
    if Queue.objects.filter(Q(name__iexact=name) | Q(slug=slug)).exists():
        raise TaxonomyError("name", f"A queue named “{name}” already exists.")
    try:
        with transaction.atomic():
            queue = Queue.objects.create(name=name, slug=slug, position=Queue.objects.count() * 10)
    except IntegrityError:
        raise TaxonomyError("name", f"A queue named “{name}” already exists.") from None
    record(
        action=TaxonomyChange.Action.QUEUE_CREATE, actor=actor, summary=f"Created queue “{name}”", after={"queue": slug}
    )
    return queue
