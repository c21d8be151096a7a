"""Two admins at once: neither edit is lost silently (real threads, real database)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection

from tests.test_websocket import connect_as, redis_layer  # noqa: F401  (the channel-layer fixture)
from triage.models import Category, TaxonomyChange
from triage.taxonomy import merge
from triage.taxonomy import services as tax
from triage.taxonomy.services import ConflictError, TaxonomyError

pytestmark = [pytest.mark.django_db(transaction=True)]


def _race(calls: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # the refusal is the result under test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def _rename(admin: Any, category: Category, name: str) -> Any:
    return lambda: tax.category_update(
        actor=admin,
        category_id=category.pk,
        version=1,
        name=name,
        slug=category.slug,
        description="",
        color="#000000",
        parent=None,
        queue=None,
        urgent=False,
    )


def test_two_admins_renaming_at_once_one_wins_and_the_other_is_told(admin_user: Any, categories: Any) -> None:
    fees = categories["fees-and-charges"]
    results = _race([_rename(admin_user, fees, "Fees"), _rename(admin_user, fees, "Charges")])
    wins = [r for r in results if isinstance(r, Category)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert len(wins) == 1 and len(refused) == 1, results
    fees.refresh_from_db()
    assert fees.name == wins[0].name and fees.version == 2
    assert TaxonomyChange.objects.filter(action="edit").count() == 1


def test_two_admins_merging_both_ways_at_once_never_lose_a_category(admin_user: Any, categories: Any) -> None:
    a, b = categories["transfers"], categories["fees-and-charges"]

    def merging(source: Category, target: Category) -> Any:
        return lambda: merge.category_merge(
            actor=admin_user, source_id=source.pk, target_id=target.pk, source_version=1
        )

    results = _race([merging(a, b), merging(b, a)])
    assert sum(isinstance(r, TaxonomyChange) for r in results) == 1, results
    assert sum(isinstance(r, TaxonomyError) for r in results) == 1, results
    assert Category.objects.filter(pk__in=[a.pk, b.pk], is_active=True).count() == 1


async def test_a_taxonomy_change_reaches_the_queue_sockets_after_commit(
    redis_layer: Any,  # noqa: F811
    agent: Any,
    admin_user: Any,
    categories: Any,
) -> None:
    socket: WebsocketCommunicator = connect_as(agent)
    assert (await socket.connect())[0]
    source, target = categories["transfers"], categories["fees-and-charges"]
    await database_sync_to_async(merge.category_merge)(
        actor=admin_user, source_id=source.pk, target_id=target.pk, source_version=1
    )
    message = await socket.receive_json_from(timeout=5)
    assert message["event"] == "taxonomy"
    assert message["merged"] == {"from": "transfers", "into": "fees-and-charges"}
    assert {"slug": "transfers", "active": False}.items() <= next(
        c for c in message["categories"] if c["slug"] == "transfers"
    ).items()
    await socket.disconnect()
