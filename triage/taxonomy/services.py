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
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, F, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.text import slugify

from triage.models import (
    Category,
    Decision,
    LabelChange,
    Prediction,
    Queue,
    RelabelPermit,
    RoutingRule,
    TaxonomyChange,
    Ticket,
    TrainingRun,
)
from triage.taxonomy import broadcast

logger = logging.getLogger(__name__)

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class TaxonomyError(Exception):
    """Refused input: `field` names what is wrong (a form field, or "__all__")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ConflictError(TaxonomyError):
    """Someone else changed the row since the form was opened."""

    def __init__(self, what: str) -> None:
        super().__init__(
            "__all__",
            f"{what} was changed by someone else since you opened this page. "
            "Nothing was saved: reload to see their change, then try again.",
        )


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


def record(
    *,
    action: str,
    actor: Any,
    summary: str,
    category: Category | None = None,
    target: Category | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> TaxonomyChange:
    return TaxonomyChange.objects.create(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=actor.get_username() if actor is not None and actor.is_authenticated else "system",
        category=category,
        target=target,
        summary=summary[:500],
        before=before or {},
        after=after or {},
    )


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


def _check_color(color: str) -> str:
    if not COLOR.match(color or ""):
        raise TaxonomyError("color", "A colour is written #rrggbb, for example #2357d9.")
    return color.lower()


def _check_parent(parent: Category | None, category: Category | None) -> None:
    if parent is None:
        return
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
                description=description.strip(),
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
    _check_parent(parent, category)
    before = snapshot(category)
    _bump(
        category,
        version,
        name=name,
        slug=slug,
        description=description.strip(),
        color=_check_color(color),
        parent=parent,
        queue=queue,
        urgent=urgent,
    )
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
    """Untriaged tickets suggested into these categories follow their queue and urgency."""
    for category in Category.objects.filter(pk__in=category_ids):
        tickets = Ticket.objects.filter(
            status=Ticket.Status.NEW, predictions__is_live=True, predictions__suggested=category
        )
        Ticket.objects.filter(pk__in=tickets.values("pk")).update(queue=category.queue_id, urgent=category.urgent)


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
        after={"is_active": False, "rules_switched_off": rule_names},
    )
    transaction.on_commit(_rules_changed)
    transaction.on_commit(broadcast.taxonomy_changed)
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
    from triage.taxonomy import rules

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
    queue = Queue.objects.create(name=name, slug=slug, position=Queue.objects.count() * 10)
    record(
        action=TaxonomyChange.Action.QUEUE_CREATE, actor=actor, summary=f"Created queue “{name}”", after={"queue": slug}
    )
    return queue


def _audit(change: TaxonomyChange, field: str, rows: QuerySet[Any], source: Category, target: Category) -> int:
    """INSERT ... SELECT the old labels of `rows` (values: ticket id, decision id) into
    LabelChange in one statement: no round trip per row, however big the category."""
    table = LabelChange._meta.db_table
    qn = connection.ops.quote_name
    names = ("change", "ticket", "decision", "field", "old_category", "new_category", "created_at")
    by_name = {f.name: f.column for f in LabelChange._meta.concrete_fields}
    columns = ", ".join(qn(by_name[name]) for name in names)
    select_sql, select_params = rows.query.sql_with_params()
    sql = (
        f"INSERT INTO {qn(table)} ({columns}) "  # noqa: S608 - names from the models; values are parameters
        f"SELECT %s, r.t, r.d, %s, %s, %s, %s FROM ({select_sql}) AS r"
    )
    with connection.cursor() as cursor:
        params: list[Any] = [change.pk, field, source.pk, target.pk, timezone.now(), *select_params]
        cursor.execute(sql, params)
        return cursor.rowcount


def relabel(
    *,
    change: TaxonomyChange,
    tickets: QuerySet[Ticket],
    decisions: QuerySet[Decision],
    source: Category,
    target: Category,
) -> dict[str, int]:
    """Move these tickets and decisions from `source` to `target`, keeping every old
    label in LabelChange. Decisions are append-only: their UPDATE passes the trigger
    only along a RelabelPermit inserted and removed inside this transaction."""
    assert transaction.get_connection().in_atomic_block, "relabel must run inside a transaction"
    none = Cast(Value(None), output_field=BigIntegerField())
    moved = _audit(
        change,
        LabelChange.Field.TICKET,
        tickets.filter(category=source).order_by().values(t=F("pk"), d=none),
        source,
        target,
    )
    chosen = _audit(
        change,
        LabelChange.Field.CHOSEN,
        decisions.filter(chosen=source).order_by().values(t=F("ticket_id"), d=F("pk")),
        source,
        target,
    )
    suggested = _audit(
        change,
        LabelChange.Field.SUGGESTED,
        decisions.filter(suggested=source).order_by().values(t=F("ticket_id"), d=F("pk")),
        source,
        target,
    )
    permit = RelabelPermit.objects.create(from_category=source, to_category=target)
    try:
        decisions.filter(chosen=source).update(chosen=target)
        decisions.filter(suggested=source).update(suggested=target)
    finally:
        permit.delete()
    tickets.filter(category=source).update(category=target)
    return {"tickets": moved, "decisions": chosen, "suggestions": suggested}


def request_retrain(change: TaxonomyChange, actor: Any, reason: str) -> None:
    """Queue a retrain for a change that moved training labels. If one is already
    running (on the old labels), the change stays marked until housekeeping queues it."""
    from triage.learning.services import RetrainRunningError, retrain_request

    try:
        change.retrain_run = retrain_request(trigger=TrainingRun.Trigger.TAXONOMY, reason=reason, user=actor)
        change.retrain_pending = False
    except RetrainRunningError as exc:
        logger.info("taxonomy change #%s waits for a retrain: %s", change.pk, exc)
        change.retrain_pending = True
    change.save(update_fields=["retrain_run", "retrain_pending"])


def retrain_if_pending() -> TrainingRun | None:
    """Housekeeping: queue the retrain a taxonomy change asked for while another ran."""
    from triage.learning.services import RetrainRunningError, retrain_request

    pending = list(TaxonomyChange.objects.filter(retrain_pending=True).values_list("pk", flat=True))
    if not pending:
        return None
    try:
        run = retrain_request(trigger=TrainingRun.Trigger.TAXONOMY, reason=f"taxonomy changes {pending}")
    except RetrainRunningError:
        return None
    TaxonomyChange.objects.filter(pk__in=pending).update(retrain_pending=False, retrain_run=run)
    return run


@transaction.atomic
def category_merge(
    *, actor: Any, source_id: int, target_id: int | None, source_version: int, target_version: int | None = None
) -> TaxonomyChange:
    """Merge A into B: A's confirmed tickets, decisions, suggestions and rules move to B in
    one transaction, A is retired (pointing at B), the old labels are kept, a retrain is queued."""
    if target_id is None:
        raise TaxonomyError("target", "Choose the category to merge into.")
    if source_id == target_id:
        raise TaxonomyError("target", "A category cannot be merged into itself.")
    # Lock both rows in id order: two admins merging A→B and B→A cannot deadlock.
    locked = {c.pk: c for c in (_locked(pk) for pk in sorted((source_id, target_id)))}
    source, target = locked[source_id], locked[target_id]
    _check_version(source, source_version)
    _check_version(target, target_version)
    if not target.is_active:
        raise TaxonomyError("target", f"“{target.name}” is retired: merge into an active category.")
    if not source.is_active:
        raise TaxonomyError("__all__", f"“{source.name}” is retired already; there is nothing to merge.")
    if source.children.filter(is_active=True).exists():
        raise TaxonomyError("__all__", f"“{source.name}” has subcategories: merge or move them first.")
    if target.parent_id == source.pk:
        raise TaxonomyError("target", f"“{target.name}” is a subcategory of “{source.name}”: move it out first.")
    change = record(
        action=TaxonomyChange.Action.MERGE,
        actor=actor,
        category=source,
        target=target,
        summary=f"Merged “{source.label}” into “{target.label}”",
        before={"source": snapshot(source), "target": snapshot(target)},
    )
    counts = relabel(
        change=change,
        tickets=Ticket.objects.filter(category=source),
        decisions=Decision.objects.filter(Q(chosen=source) | Q(suggested=source)),
        source=source,
        target=target,
    )
    counts["predictions"] = Prediction.objects.filter(suggested=source).update(suggested=target)
    counts["rules"] = RoutingRule.objects.filter(category=source).update(category=target)
    reroute_untriaged([target.pk])
    _bump(source, source_version, is_active=False, merged_into=target)
    _bump(target, target.version)
    change.after = {"moved": counts, "source_active": False, "merged_into": target.slug}
    change.save(update_fields=["after"])
    request_retrain(change, actor, f"merged {source.slug} into {target.slug}")
    transaction.on_commit(_rules_changed)
    transaction.on_commit(partial(broadcast.taxonomy_changed, merged={"from": source.slug, "into": target.slug}))
    return change
