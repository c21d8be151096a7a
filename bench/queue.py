"""The agents' queue page with many waiting tickets: seed, then time the page's views.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assist_queuebench \\
        .venv/bin/python bench/queue.py [--tickets 100000] [--repeat 20] [--bulk 2000] [--no-seed]

Migrates, empties that (dedicated) database's tickets, predictions and decisions, then
writes N waiting tickets with their live suggestions (bulk_create, 12 categories in 3
queues, five channels, 90 % English, 3 % urgent, 10 % held back for a human, received
over the last 30 days). Then fetches the queue page as an agent through Django's test
client (view, queries and template: the whole response) for each view below, one
warm-up request and --repeat timed ones, and prints p50 and p95 with the matching count.
With --bulk K, it then triages K near-identical tickets ("all like this") through
POST /api/tickets/bulk-triage/ in one request and prints the time it took.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py: its directory must not shadow the standard library's
# `queue` (which the thread pools below import).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
os.environ.setdefault("ASSIST_LOCAL_DEV", "1")  # a development machine: the development keys are fine

CATEGORIES = 12
QUEUES = 3
CHANNELS = ["email", "chat", "web", "phone", "api"]
VIEWS = [
    ("everything, newest first", ""),
    ("one queue", "?queue=q-1"),
    ("page 50", "?page=50"),
    ("oldest first", "?sort=oldest"),
    ("most confident first", "?sort=confident"),
    ("least confident, one queue", "?queue=q-2&sort=unsure"),
    ("suggested category", "?category=cat-03"),
    ("needs a human", "?human=yes"),
    ("chat, Spanish", "?channel=chat&language=es"),
    ("urgent only", "?urgent=1"),
    ("over a day old", "?age=over-1d"),
    ("search 'refund'", "?q=refund"),
    ("search + category + sort", "?q=card&category=cat-01&sort=confident"),
]
STORM_BODY = "My card is declined in every shop since this morning"
WORDS = [
    "card",
    "payment",
    "refund",
    "transfer",
    "account",
    "login",
    "fee",
    "charge",
    "statement",
    "limit",
    "app",
    "pin",
]


def seed(n: int, *, storm: int) -> float:
    from django.db import connection
    from django.utils import timezone

    from triage.models import Category, ModelVersion, Prediction, Queue, Ticket

    started = time.perf_counter()
    with connection.cursor() as cur:  # this bench's own database only
        tables = "triage_ticket, triage_prediction, triage_decision, triage_decisionfact, triage_modelversion"
        cur.execute(f"TRUNCATE {tables}, triage_category, triage_queue RESTART IDENTITY CASCADE")
    queues = [Queue.objects.create(slug=f"q-{i}", name=f"Queue {i}") for i in range(QUEUES)]
    cats = [
        Category.objects.create(slug=f"cat-{i:02d}", name=f"Category {i:02d}", queue=queues[i % QUEUES])
        for i in range(CATEGORIES)
    ]
    version = ModelVersion.objects.create(
        version=1, status=ModelVersion.Status.ACTIVE, artifact="models/bench.skops", sha256="-", hmac="-"
    )
    rng = random.Random(42)
    now = timezone.now()
    batch = 5000
    for start in range(0, n + storm, batch):
        tickets, chosen = [], []
        for i in range(start, min(n + storm, start + batch)):
            in_storm = i >= n
            c = cats[1] if in_storm else rng.choice(cats)
            words = " ".join(rng.sample(WORDS, 4))
            tickets.append(
                Ticket(
                    source="bench",
                    external_id=str(i),
                    subject="Card declined everywhere" if in_storm else f"{words.title()} {i}",
                    body=STORM_BODY if in_storm else f"Hello, my {words} went wrong, ticket number {i}. Please help.",
                    channel=rng.choice(CHANNELS),
                    received_at=now - timedelta(seconds=rng.uniform(0, 30 * 86400)),
                    language="en" if rng.random() < 0.9 else rng.choice(["es", "de", "fr"]),
                    urgent=rng.random() < 0.03,
                    queue=c.queue,
                )
            )
            chosen.append((c, 0.97 if in_storm else 0.3 + 0.7 * rng.random() ** 0.5))
        Ticket.objects.bulk_create(tickets)
        Prediction.objects.bulk_create(
            [
                Prediction(
                    ticket=t,
                    model_version=version,
                    suggested=c,
                    confidence=conf,
                    needs_human=conf < 0.45,
                    abstain_reason="unsure" if conf < 0.45 else "",
                )
                for t, (c, conf) in zip(tickets, chosen, strict=True)
            ]
        )
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ANALYZE")
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(repeat: int) -> None:
    import re

    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    settings.ALLOWED_HOSTS = ["testserver"]
    agent, _ = User.objects.get_or_create(username="bench-agent")
    agent.groups.add(Group.objects.get(name="agent"))
    client = Client()
    client.force_login(agent)
    print(f"{'view':32} {'matching':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for name, query in VIEWS:
        response = client.get("/" + query, secure=True)  # warm-up
        assert response.status_code == 200, (query, response.status_code)
        found = re.search(rb'<strong id="queue-count">(\d+)</strong>', response.content)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get("/" + query, secure=True)
            times.append((time.perf_counter() - started) * 1000)
        matching = int(found.group(1)) if found else -1
        print(f"{name:32} {matching:>9,} {statistics.median(times):8.1f} {percentile(times, 0.95):8.1f}")


def bulk(storm: int) -> None:
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user=User.objects.get(username="bench-agent"))
    like = {"suggested": "cat-01", "min_confidence": 0.95}
    started = time.perf_counter()
    response = api.post("/api/tickets/bulk-triage/", {"category": "cat-01", "like": like}, format="json", secure=True)
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    triaged, taken = len(body["triaged"]), len(body["taken"])
    print(f"bulk triage, all like this: {triaged:,} triaged, {taken} taken, {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--bulk", type=int, default=0, help="near-identical tickets to triage in one request")
    parser.add_argument("--no-seed", action="store_true")
    args = parser.parse_args()

    import logging

    import django

    django.setup()
    logging.getLogger("axes").setLevel(logging.WARNING)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    if not args.no_seed:
        seconds = seed(args.tickets, storm=args.bulk)
        print(f"seeded {args.tickets:,} waiting tickets (+{args.bulk:,} alike) in {seconds:.1f} s")
    measure(args.repeat)
    if args.bulk:
        bulk(args.bulk)


if __name__ == "__main__":
    main()
