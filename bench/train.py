"""Training time and peak memory at 10k, 100k and 1M confirmed tickets (PostgreSQL).

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assist_scale \\
        .venv/bin/python bench/train.py [--sizes 10000 100000 1000000] [--data PATH]

For each size: empty the tickets and model versions of that (dedicated, migrated)
database, COPY N confirmed tickets into it, then run `train_model` in a fresh
process (so its peak RSS is the training's, not the seeding's) and print rows,
seconds, peak RSS (VmHWM after resetting it through /proc/self/clear_refs),
holdout accuracy, macro-F1 and ECE.

The tickets are Banking77 training texts (77 categories), resampled with light
perturbations (typos, dropped or repeated words, greetings, case) up to N. To
keep the time holdout honest the base texts are split 80/20 first: the oldest
80% of tickets are drawn from the 80% share, the most recent 20% (the holdout)
from base texts the model never saw in any form. The data file is read in place.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")

DEFAULT_DATA = Path("/work/shared/data/banking77/train.csv")
GREETINGS = ("Hi, ", "Hello, ", "Hey ", "Good morning. ", "Dear support, ", "Help: ")
SIGN_OFFS = (" Thanks", " Thank you!", " thx", " Please help.", " Cheers", " ASAP")
START = datetime(2024, 1, 1, tzinfo=UTC)


def perturb(text: str, rng: random.Random) -> str:
    """A light, label-preserving variation of a customer's message."""
    words = text.split()
    roll = rng.random()
    if roll < 0.15 and len(words) > 3:  # a typo: two letters swapped
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 3:
            j = rng.randrange(len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif roll < 0.25 and len(words) > 4:  # a word dropped
        del words[rng.randrange(len(words))]
    elif roll < 0.30:  # a word repeated
        i = rng.randrange(len(words))
        words.insert(i, words[i])
    out = " ".join(words)
    if rng.random() < 0.2:
        out = rng.choice(GREETINGS) + out
    if rng.random() < 0.2:
        out += rng.choice(SIGN_OFFS)
    if rng.random() < 0.1:
        out = out.lower()
    return out


def seed(n: int, data: Path) -> None:
    """Replace the database's tickets and models by n confirmed Banking77-based tickets."""
    import django  # set up in the process that seeds, after DJANGO_SETTINGS_MODULE

    django.setup()
    from django.db import connection

    from triage.models import Category

    with data.open(newline="") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    rng = random.Random(0)
    rng.shuffle(rows)
    old, new = rows[: int(len(rows) * 0.8)], rows[int(len(rows) * 0.8) :]
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE triage_ticket, triage_modelversion RESTART IDENTITY CASCADE"
        )  # this bench's own database only
    ids = {}
    for slug in sorted({c for _, c in rows}):
        category, _ = Category.objects.get_or_create(
            slug=re.sub(r"[^a-z0-9-]", "", slug.replace("_", "-")),
            defaults={"name": slug.replace("_", " ").capitalize()},
        )
        ids[slug] = category.pk
    cut = n - int(n * 0.2)
    buf = io.StringIO()
    writer = csv.writer(buf)
    for i in range(n):
        text, label = rng.choice(old if i < cut else new)
        at = (START + timedelta(seconds=30 * i)).isoformat()
        writer.writerow(
            ["bench", "", perturb(text, rng), "email", "", at, at, "triaged", "import", at, ids[label], "f", "en"]
        )
    buf.seek(0)
    with connection.cursor() as cur:
        cur.copy_expert(
            "COPY triage_ticket (source, subject, body, channel, customer_ref, received_at, created_at,"
            " status, label_source, triaged_at, category_id, blind, language)"
            " FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (subject, customer_ref))",
            buf,
        )
        cur.execute("ANALYZE triage_ticket")


def train() -> dict[str, object]:
    """Run train_model once in this process; its own lineage has seconds and peak RSS."""
    import django  # set up in the process that trains, after DJANGO_SETTINGS_MODULE

    django.setup()
    from triage.learning.training import train_model

    started = time.perf_counter()
    outcome = train_model(activate="always")
    seconds = time.perf_counter() - started
    version = outcome.version
    holdout = outcome.metrics
    return {
        "rows": version.training_rows,
        "holdout_rows": version.holdout_rows,
        "large_path": "features__n_features" in version.params,
        "seconds": round(seconds, 1),
        "peak_rss_mb": version.peak_memory_mb,
        "accuracy": holdout.get("accuracy"),
        "macro_f1": holdout.get("macro_f1"),
        "ece": holdout.get("ece"),
        "auto_triage_share": holdout.get("auto_triage_share"),
        "artifact_mb": round(version.artifact.size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_only:
        print(json.dumps(train()))
        return
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a dedicated PostgreSQL database: this bench empties its tickets.")
    print("| tickets | path | seconds | peak RSS MB | holdout accuracy | macro-F1 | ECE | artifact MB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        started = time.perf_counter()
        seed(n, args.data)
        seeded = time.perf_counter() - started
        out = subprocess.run(
            [sys.executable, __file__, "--train-only"], capture_output=True, text=True, check=True
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        path = "streaming" if r["large_path"] else "in-memory"
        print(
            f"| {r['rows']:,} | {path} | {r['seconds']} | {r['peak_rss_mb']} | {r['accuracy']} | "
            f"{r['macro_f1']} | {r['ece']} | {r['artifact_mb']} |  (seeded in {seeded:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
