"""Merge A into B, and the relabel both merges and splits use.

A relabel moves tickets and decisions from one category to another in the caller's
transaction, keeps every old label in LabelChange, and passes the append-only
trigger on decisions only through a RelabelPermit. A change that moves training
labels tells the learning side (`triage.learning.triggers.taxonomy_changed`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import BigIntegerField, F, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.utils import timezone

from triage.learning.triggers import taxonomy_changed
from triage.models import (
    Category,
    Decision,
    DecisionFact,
    LabelChange,
    Prediction,
    RelabelPermit,
    RoutingRule,
    TaxonomyChange,
    Ticket,
)
from triage.taxonomy import broadcast
from triage.taxonomy.alternatives import replace_in_waiting_alternatives
from triage.taxonomy.services import (
    TaxonomyError,
    _bump,
    _check_version,
    _locked,
    _rules_changed,
    record,
    reroute_untriaged,
    snapshot,
)


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
    # The reports' fact table follows, so reports show the new taxonomy too.
    facts = DecisionFact.objects.filter(decision__in=decisions.values("pk"))
    facts.filter(chosen=source).update(chosen=target)
    facts.filter(suggested=source).update(suggested=target)
    permit = RelabelPermit.objects.create(from_category=source, to_category=target)
    try:
        decisions.filter(chosen=source).update(chosen=target)
        decisions.filter(suggested=source).update(suggested=target)
    finally:
        permit.delete()
    tickets.filter(category=source).update(category=target)
    return {"tickets": moved, "decisions": chosen, "suggestions": suggested}


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
    counts["alternatives"] = replace_in_waiting_alternatives(source, target)
    counts["rules"] = RoutingRule.objects.filter(category=source).update(category=target)
    reroute_untriaged([target.pk])
    _bump(source, source_version, is_active=False, merged_into=target)
    _bump(target, target.version)
    change.after = {"moved": counts, "source_active": False, "merged_into": target.slug}
    change.save(update_fields=["after"])
    taxonomy_changed(change=change, reason=f"merged {source.slug} into {target.slug}")
    transaction.on_commit(_rules_changed)
    transaction.on_commit(partial(broadcast.taxonomy_changed, merged={"from": source.slug, "into": target.slug}))
    return change
