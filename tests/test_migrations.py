"""Data migrations, run forwards on the real database from the state before them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True)]

BEFORE = [("triage", "0014_prediction_abstain_retired")]
AFTER = [("triage", "0015_category_name_case_insensitive")]


@pytest.fixture
def latest_schema_after() -> Iterator[None]:
    """Whatever a test migrates to, the tests after it get every migration back."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_names_that_differ_only_in_case_are_told_apart_before_the_constraint(latest_schema_after: None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("triage", "Category")
    first = old.objects.create(name="Crypto", slug="crypto")
    second = old.objects.create(name="CRYPTO", slug="crypto-2")
    third = old.objects.create(name="crypto", slug="crypto-3")
    taken = old.objects.create(name="Crypto (2)", slug="crypto-4")
    long_first = old.objects.create(name="W" * 120, slug="long-1")
    long_second = old.objects.create(name="w" * 120, slug="long-2")

    executor = MigrationExecutor(connection)  # a fresh graph, as `migrate` would load
    executor.migrate(AFTER)

    new = executor.loader.project_state(AFTER).apps.get_model("triage", "Category")
    names = dict(new.objects.values_list("pk", "name"))
    assert names[first.pk] == "Crypto"  # the oldest keeps its name
    assert names[taken.pk] == "Crypto (2)"  # a name that was never a clash is left alone
    assert {names[second.pk], names[third.pk]} == {"CRYPTO (3)", "crypto (4)"}
    assert names[long_first.pk] == "W" * 120
    assert names[long_second.pk] == "w" * 116 + " (2)"  # still within the column's 120
    assert len({n.lower() for n in names.values()}) == len(names)
