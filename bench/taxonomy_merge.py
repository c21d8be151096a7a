"""How long a merge takes: N confirmed tickets, each with an agent's decision, merged
from one category into another (relabel, audit rows, permits, retrain request).

    DATABASE_URL=postgres://... python bench/taxonomy_merge.py [--n 1000 10000 50000]

Runs against the database DATABASE_URL points at (migrated), inside a transaction
that is rolled back at the end: nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
os.environ.setdefault("ASSIST_LOCAL_DEV", "1")  # a development machine: the development keys are fine

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from triage.models import Category, Decision, LabelChange, Ticket  # noqa: E402
from triage.taxonomy import merge  # noqa: E402


class Rollback(Exception):
    pass


def one(n: int) -> float:
    try:
        with transaction.atomic():
            agent = User.objects.create(username=f"bench-merge-{n}")
            source = Category.objects.create(name=f"bench source {n}", slug=f"bench-source-{n}")
            target = Category.objects.create(name=f"bench target {n}", slug=f"bench-target-{n}")
            start_at = timezone.now() - timedelta(days=10)
            tickets = Ticket.objects.bulk_create(
                [
                    Ticket(
                        source="bench-merge",
                        external_id=f"{n}-{i}",
                        subject="s",
                        body="b",
                        received_at=start_at + timedelta(seconds=i),
                        status=Ticket.Status.TRIAGED,
                        category=source,
                        label_source=Ticket.LabelSource.AGENT,
                    )
                    for i in range(n)
                ],
                batch_size=5000,
            )
            Decision.objects.bulk_create(
                [Decision(ticket=t, agent=agent, chosen=source, suggested=source, accepted=True) for t in tickets],
                batch_size=5000,
            )
            started = time.perf_counter()
            change = merge.category_merge(actor=agent, source_id=source.pk, target_id=target.pk, source_version=1)
            elapsed = time.perf_counter() - started
            assert LabelChange.objects.filter(change=change).count() == 3 * n
            assert not Ticket.objects.filter(category=source).exists()
            raise Rollback
    except Rollback:
        pass
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000, 50000])
    args = parser.parse_args()
    print(f"database: {connection.vendor}")
    print(f"{'tickets':>8} {'merge s':>8}")
    for n in args.n:
        print(f"{n:>8} {one(n):>8.2f}")


if __name__ == "__main__":
    main()
