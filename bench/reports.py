"""Report pages at 1,000,000 decisions (PostgreSQL): seed with bulk SQL, time every page.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assist_repbench \\
        .venv/bin/python bench/reports.py [--decisions 1000000] [--repeat 3] [--no-seed]

Empties that (dedicated) database's tickets, decisions and models, then writes N
tickets, live predictions, first decisions and their report facts over the last
365 days with INSERT ... SELECT FROM generate_series (no Python loop over rows):
20 categories, 40 agents, 4 model versions (three promotions), 90 % English,
2 % blind slice, acceptance rising with confidence, 1 % overridden, the 2 %
quality-check sample. Then each report page is fetched as a supervisor through
Django's test client (view, queries and template: the whole response) for the
default range (the last 8 weeks) and for the whole year, and the time printed:
the first request (after one warm-up request to /reports/review/, which loads the
process's imports) and the median of the next --repeat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
os.environ.setdefault("ASSIST_LOCAL_DEV", "1")  # a development machine: the development keys are fine

CATEGORIES = 20
AGENTS = 40
VERSIONS = 4
PAGES = [
    ("overview", "/reports/"),
    ("acceptance", "/reports/acceptance/"),
    ("quality", "/reports/quality/"),
    ("confidence", "/reports/confidence/"),
    ("errors", "/reports/errors/"),
    ("drift", "/reports/drift/"),
    ("agents", "/reports/agents/"),
    ("confusion cell", "/reports/quality/cell/?suggested=cat-00&chosen=cat-01"),
    ("quality CSV", "/reports/quality/categories.csv"),
]

SEED_SQL = """
SELECT setseed(0.42);
CREATE TEMP TABLE bench_seed AS
SELECT i,
       (random() * {cats_minus_1})::int AS s,
       0.3 + 0.7 * sqrt(random()) AS conf,
       random() AS r, random() AS r2, random() AS r3,
       (random() * {agents_minus_1})::int AS a,
       now() - ({n} - i) * interval '1 second' * (365 * 86400.0 / {n}) AS at
FROM generate_series(1, {n}) AS i;
ALTER TABLE bench_seed ADD COLUMN accepted boolean, ADD COLUMN c int, ADD COLUMN v int;
UPDATE bench_seed SET accepted = r < 0.25 + 0.7 * conf, v = least({versions} - 1, (i * {versions}) / {n});
UPDATE bench_seed SET c = CASE WHEN accepted THEN s ELSE (s + 1 + (r2 * {cats_minus_2})::int) % {cats} END;

INSERT INTO triage_ticket (id, source, subject, body, channel, customer_ref, received_at, created_at, status,
                           category_id, label_source, triaged_at, triaged_by_id, language, blind, urgent)
SELECT i, 'bench', 'Ticket ' || i, 'my card payment number ' || i || ' went wrong', 'email', '', at, at, 'triaged',
       (%(cats)s)[c + 1], 'agent', at, (%(agents)s)[a + 1],
       CASE WHEN r3 < 0.9 THEN 'en' WHEN r3 < 0.96 THEN 'es' ELSE 'de' END, r2 < 0.02, false
FROM bench_seed;

INSERT INTO triage_prediction (ticket_id, model_version_id, suggested_id, confidence, alternatives, reasons,
                               needs_human, is_live, created_at, rule_name)
SELECT i, (%(versions)s)[v + 1], (%(cats)s)[s + 1], conf, '[]', '[]', conf < 0.5, true, at, '' FROM bench_seed;

INSERT INTO triage_decision (id, ticket_id, agent_id, suggested_id, chosen_id, accepted, applied, model_version_id,
                             seconds_taken, created_at)
SELECT i, i, (%(agents)s)[a + 1], (%(cats)s)[s + 1], (%(cats)s)[c + 1], accepted, true, (%(versions)s)[v + 1],
       3 + 40 * r3 * r2, at + interval '30 seconds'
FROM bench_seed;

INSERT INTO triage_decisionfact (decision_id, ticket_id, agent_id, model_version_id, suggested_id, chosen_id,
                                 accepted, blind, confidence, confidence_bucket, language, unseen_share,
                                 seconds_taken, overridden, opens_hour, created_at, day, week)
SELECT d.id, d.ticket_id, d.agent_id, d.model_version_id, d.suggested_id, d.chosen_id, d.accepted, t.blind,
       p.confidence, least(100, floor(p.confidence * 100 + 1e-9))::int, t.language, 0.02 + 0.08 * s.r3,
       d.seconds_taken, s.r3 < 0.01,
       row_number() OVER (PARTITION BY d.agent_id, date_trunc('hour', d.created_at AT TIME ZONE %(tz)s)
                          ORDER BY d.created_at, d.id) = 1,
       d.created_at, (d.created_at AT TIME ZONE %(tz)s)::date,
       date_trunc('week', d.created_at AT TIME ZONE %(tz)s)::date
FROM bench_seed s
JOIN triage_decision d ON d.id = s.i
JOIN triage_ticket t ON t.id = s.i
JOIN triage_prediction p ON p.ticket_id = s.i;

INSERT INTO triage_qualitycheck (decision_id, ticket_id, reviewer_id, verdict_id, correct, created_at, reviewed_at)
SELECT i, i, CASE WHEN r3 < 0.5 THEN %(reviewer)s END, CASE WHEN r3 < 0.5 THEN (%(cats)s)[c + 1] END,
       CASE WHEN r3 < 0.5 THEN true END, at, CASE WHEN r3 < 0.5 THEN at + interval '1 day' END
FROM bench_seed WHERE accepted AND NOT r2 < 0.02 AND r < 0.02 * (0.25 + 0.7 * conf);

SELECT setval(pg_get_serial_sequence('triage_ticket', 'id'), {n});
SELECT setval(pg_get_serial_sequence('triage_decision', 'id'), {n});
"""


def seed(n: int) -> float:
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction
    from django.utils import timezone

    from triage.models import Category, ModelPromotion, ModelReference, ModelVersion

    started = time.perf_counter()
    with connection.cursor() as cur:  # this bench's own database only
        cur.execute(
            "TRUNCATE triage_ticket, triage_decision, triage_decisionfact, triage_qualitycheck, triage_prediction,"
            " triage_modelversion, triage_category RESTART IDENTITY CASCADE"
        )
    User.objects.filter(username__startswith="bench-").delete()
    cats = [Category.objects.create(slug=f"cat-{i:02d}", name=f"Category {i:02d}").pk for i in range(CATEGORIES)]
    agents = User.objects.bulk_create([User(username=f"bench-agent-{i:02d}") for i in range(AGENTS)])
    reviewer = User.objects.create_user("bench-supervisor", password="bench-pw")
    reviewer.groups.add(Group.objects.get(name="supervisor"))
    now = timezone.now()
    versions = []
    for v in range(1, VERSIONS + 1):
        version = ModelVersion.objects.create(
            version=v,
            status=ModelVersion.Status.ACTIVE if v == VERSIONS else ModelVersion.Status.RETIRED,
            artifact=f"models/bench-{v}.skops",
            sha256="-",
            hmac="-",
        )
        versions.append(version.pk)
        if v > 1:
            promotion = ModelPromotion.objects.create(
                version=version, previous_id=versions[-2], action=ModelPromotion.Action.GATE
            )
            at = now - timedelta(days=365 * (VERSIONS - v + 1) / VERSIONS)
            ModelPromotion.objects.filter(pk=promotion.pk).update(created_at=at)
    ModelReference.objects.create(
        model_version_id=versions[-1],
        class_mix={f"cat-{i:02d}": 1 / CATEGORIES for i in range(CATEGORIES)},
        confidence_histogram=[0.0, 0.0, 0.0, 0.02, 0.05, 0.08, 0.12, 0.18, 0.25, 0.30],
        vocabulary=["my", "card", "payment", "number", "went", "wrong"],
        unseen_share=0.03,
        sample_rows=2000,
    )
    sql = SEED_SQL.format(
        n=n,
        cats=CATEGORIES,
        cats_minus_1=CATEGORIES - 1,
        cats_minus_2=CATEGORIES - 2,
        agents_minus_1=AGENTS - 1,
        versions=VERSIONS,
    )
    params: dict[str, Any] = {
        "cats": cats,
        "agents": [a.pk for a in agents],
        "versions": versions,
        "reviewer": reviewer.pk,
        "tz": settings.TIME_ZONE,
    }
    with transaction.atomic(), connection.cursor() as cur:
        for statement in [s.strip() for s in sql.split(";\n") if s.strip()]:
            cur.execute(statement, params if "%(" in statement else None)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return time.perf_counter() - started


def measure(repeat: int) -> list[tuple[str, str, float, float, int]]:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client()
    client.force_login(User.objects.get(username="bench-supervisor"))
    today = timezone.localdate()
    # Warm the process first (URLconf, views and their imports: seconds, once per process).
    client.get("/reports/review/", secure=True)
    ranges = [("8 weeks (default)", ""), ("365 days", f"from={today - timedelta(days=364)}&to={today}")]
    results = []
    for label, query in ranges:
        for name, url in PAGES:
            full = url + (("&" if "?" in url else "?") + query if query else "")
            times = []
            for _ in range(repeat + 1):
                started = time.perf_counter()
                response = client.get(full, secure=True)
                times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"{full}: HTTP {response.status_code}")
            results.append((label, name, times[0], statistics.median(times[1:]), len(response.content)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-seed", action="store_true", help="time the pages on the data already seeded")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a dedicated PostgreSQL database: this bench empties its tickets and decisions.")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if not args.no_seed:
        print(f"seeded {args.decisions:,} decisions in {seed(args.decisions):.0f} s", flush=True)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM triage_decisionfact")
        facts = cur.fetchone()[0]
    print(f"\n{facts:,} decisions (facts); each page: first request, then the median of {args.repeat}\n")
    print("| range | page | first (s) | median (s) | KB |")
    print("|---|---|---:|---:|---:|")
    for label, name, first, median, size in measure(args.repeat):
        print(f"| {label} | {name} | {first:.3f} | {median:.3f} | {size // 1024} |", flush=True)


if __name__ == "__main__":
    main()
