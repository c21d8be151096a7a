"""Database helpers for the ingest hot path."""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model


def _row(obj: Model, connection: Any, skip: set[str]) -> tuple[list[str], list[Any]]:
    columns, values = [], []
    for field in obj._meta.concrete_fields:
        if field.primary_key or field.attname in skip:
            continue
        columns.append(field.column)
        values.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection=connection))
    return columns, values


def insert_parent_and_child(parent: Model, child: Model, fk_attname: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """INSERT an unsaved parent and its unsaved child in one statement (PostgreSQL).

    One round trip, atomic on its own, instead of BEGIN, two INSERTs and COMMIT:
    on the ingest path that is most of the cost. Sets both primary keys; a unique
    violation raises IntegrityError and stores neither row.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise NotImplementedError("data-modifying WITH needs PostgreSQL")
    qn = connection.ops.quote_name
    parent_pk = parent._meta.pk
    child_pk = child._meta.pk
    assert parent_pk is not None and child_pk is not None
    fk_column = next(f.column for f in child._meta.concrete_fields if f.attname == fk_attname)
    parent_columns, parent_values = _row(parent, connection, skip=set())
    child_columns, child_values = _row(child, connection, skip={fk_attname})
    # Only quoted table and column names from the models go into the text; every
    # value is a query parameter.
    sql = (
        f"WITH parent AS ("  # noqa: S608
        f"INSERT INTO {qn(parent._meta.db_table)} ({', '.join(map(qn, parent_columns))}) "
        f"VALUES ({', '.join(['%s'] * len(parent_values))}) RETURNING {qn(parent_pk.column)}) "
        f"INSERT INTO {qn(child._meta.db_table)} ({qn(fk_column)}, {', '.join(map(qn, child_columns))}) "
        f"VALUES ((SELECT {qn(parent_pk.column)} FROM parent), {', '.join(['%s'] * len(child_values))}) "
        f"RETURNING {qn(child_pk.column)}, {qn(fk_column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*parent_values, *child_values])
        child_id, parent_id = cursor.fetchone()
    parent.pk = parent_id
    child.pk = child_id
    setattr(child, fk_attname, parent_id)
    for obj in (parent, child):
        obj._state.adding = False
        obj._state.db = using
