"""Two admins at once: neither edit is lost silently (real threads, real database)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import DEFAULT_DB_ALIAS, connection, connections

from tests.helpers import connect_as, in_thread, let_the_second_block_then_go, next_event, pause_after
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
    redis_layer: Any,
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
    message = await next_event(socket)
    assert message["event"] == "taxonomy"
    assert message["merged"] == {"from": "transfers", "into": "fees-and-charges"}
    assert {"slug": "transfers", "active": False}.items() <= next(
        c for c in message["categories"] if c["slug"] == "transfers"
    ).items()
    await socket.disconnect()


def test_a_subcategory_created_while_its_parent_is_merged_away_never_outlives_it(
    admin_user: Any, categories: dict[str, Category], monkeypatch: Any
) -> None:
    # Found by review: the parent was checked without a lock, so the create could
    # commit an active child under a parent merged away meanwhile.
    cards, fraud = categories["lost-or-stolen-card"], categories["suspected-fraud"]
    checked, go = pause_after(tax, "_check_parent", monkeypatch)
    created: list[Any] = []
    merged: list[Any] = []
    admin1 = in_thread(lambda: tax.category_create(actor=admin_user, name="Stolen abroad", parent=cards), created)
    assert checked.wait(10)
    admin2 = in_thread(
        lambda: merge.category_merge(
            actor=admin_user, source_id=cards.pk, target_id=fraud.pk, source_version=cards.version
        ),
        merged,
    )
    let_the_second_block_then_go(admin1, admin2, go)

    assert isinstance(created[0], Category)  # it checked first, so it wins...
    assert isinstance(merged[0], TaxonomyError)  # ...and the merge is refused: the parent has a subcategory
    cards.refresh_from_db()
    assert cards.is_active and Category.objects.filter(parent=cards, is_active=True).count() == 1


def test_a_relabel_list_confirmed_while_its_target_is_merged_away_follows_the_merge(
    admin_user: Any, supervisor: Any, categories: dict[str, Category], monkeypatch: Any
) -> None:
    # Found by review: the split's targets were checked without a lock, so tickets
    # were relabelled into a category merged away meanwhile (and lost to training).
    from django.utils import timezone

    from triage.models import Ticket
    from triage.taxonomy import split

    cards, fraud = categories["lost-or-stolen-card"], categories["suspected-fraud"]
    tickets = [
        Ticket.objects.create(
            subject=f"lost {i}",
            body="I lost my card abroad",
            received_at=timezone.now(),
            status=Ticket.Status.TRIAGED,
            category=cards,
            label_source=Ticket.LabelSource.AGENT,
        )
        for i in range(3)
    ]
    made = split.category_split(
        actor=admin_user, source_id=cards.pk, version=cards.version, new_names=["Lost abroad", "Lost at home"]
    )
    abroad = made.targets.get(name="Lost abroad")
    choices = {item.pk: abroad.pk for item in made.items.all()}
    checked, go = pause_after(split, "record", monkeypatch)
    confirmed: list[Any] = []
    merged: list[Any] = []
    supervisor_thread = in_thread(
        lambda: split.split_confirm(actor=supervisor, split_id=made.pk, choices=choices), confirmed
    )
    assert checked.wait(10)
    admin = in_thread(
        lambda: merge.category_merge(
            actor=admin_user, source_id=abroad.pk, target_id=fraud.pk, source_version=abroad.version
        ),
        merged,
    )
    let_the_second_block_then_go(supervisor_thread, admin, go)

    assert confirmed == [3] and isinstance(merged[0], TaxonomyChange)
    abroad.refresh_from_db()
    assert abroad.merged_into == fraud and not abroad.is_active
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], category=fraud).count() == 3


def test_two_admins_demoting_each_other_at_once_leave_an_admin(monkeypatch: Any) -> None:
    # Found by review: each request passed the view's permission check before the
    # other committed, so both demotions went through and nobody was an admin.
    from django.contrib.auth.models import User
    from django.test import Client

    from tests.conftest import make_user
    from triage.taxonomy import users

    ada, bea = make_user("ada", "admin"), make_user("bea", "admin")
    reached, go = threading.Event(), threading.Event()
    original = users.user_role_set

    def slow_for_bea(*, actor: Any, user_id: int, role: str) -> Any:
        if actor.pk == bea.pk:
            reached.set()  # bea's request passed the view's permission check...
            go.wait(10)  # ...and reaches the service after ada's has committed
        return original(actor=actor, user_id=user_id, role=role)

    monkeypatch.setattr(users, "user_role_set", slow_for_bea)

    def post_as(user: Any, target: Any) -> int:
        client = Client()
        client.force_login(user)
        return client.post("/taxonomy/users/", {"user": target.pk, "role": "agent"}).status_code

    codes: list[Any] = []
    bea_request = in_thread(lambda: post_as(bea, ada), codes)
    assert reached.wait(10)
    assert post_as(ada, bea) == 302
    go.set()
    bea_request.join(15)

    assert codes == [400]
    assert list(User.objects.filter(groups__name="admin").values_list("username", flat=True)) == ["ada"]


def test_two_admins_creating_one_name_in_two_cases_at_once_make_one_category(
    admin_user: Any, categories: Any, monkeypatch: Any
) -> None:
    # Neither create inserts before the other is under way. On PostgreSQL both pass
    # the name check first, so only the database's case-insensitive constraint can
    # refuse the second. SQLite serialises writers (BEGIN IMMEDIATE): the second is
    # under way once it asks for its write lock, which it gets after the first commits.
    under_way: set[int] = set()  # the threads whose create is under way
    changed = threading.Condition()

    def get_under_way() -> None:
        with changed:
            under_way.add(threading.get_ident())
            changed.notify_all()

    check_parent = tax._check_parent

    def after_the_name_check(parent: Any, category: Any) -> None:
        if connection.vendor != "sqlite":
            get_under_way()
        with changed:
            assert changed.wait_for(lambda: len(under_way) == 2, timeout=10), "the other create never started"
        check_parent(parent, category)

    monkeypatch.setattr(tax, "_check_parent", after_the_name_check)
    if connection.vendor == "sqlite":
        wrapper = type(connections[DEFAULT_DB_ALIAS])
        begin = wrapper._start_transaction_under_autocommit  # type: ignore[attr-defined]

        def asking_for_the_write_lock(self: Any) -> None:
            get_under_way()
            begin(self)

        monkeypatch.setattr(wrapper, "_start_transaction_under_autocommit", asking_for_the_write_lock)
    results = _race(
        [
            lambda: tax.category_create(actor=admin_user, name="Crypto", slug="crypto-a"),
            lambda: tax.category_create(actor=admin_user, name="CRYPTO", slug="crypto-b"),
        ]
    )
    created = [r for r in results if isinstance(r, Category)]
    refused = [r for r in results if isinstance(r, TaxonomyError)]
    assert len(created) == 1 and len(refused) == 1, results
    assert refused[0].field == "name"
    assert Category.objects.filter(name__iexact="crypto").count() == 1
    assert TaxonomyChange.objects.filter(action="create").count() == 1
