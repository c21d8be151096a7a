"""Ingest overhead of routing rules: the time `rule_match` adds to one ticket with N
active regex rules, none of which match (the worst case: every rule is tried).

    python bench/taxonomy_rules.py [--n 0 10 50 200] [--tickets 2000]

In-process and without a database: the rules are compiled exactly as ingest
compiles them (triage/taxonomy/rules.py), over demo tickets (triage/demo.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
os.environ.setdefault("ASSIST_LOCAL_DEV", "1")  # a development machine: the development keys are fine

import django

django.setup()

from triage import demo  # noqa: E402
from triage.models import Category, RoutingRule  # noqa: E402
from triage.taxonomy import rules  # noqa: E402


def make_rules(n: int) -> list[rules.CompiledRule]:
    category = Category(pk=1, slug="bench", name="Bench")
    made = []
    for i in range(n):
        # Realistic shapes: alternations, word boundaries, an optional group; never matching.
        pattern = rf"\b(zq{i}x|lost\s+zz{i}|card\s+(?:number\s+)?q{i}q)\b"
        regex = rules.compile_pattern(RoutingRule.Kind.REGEX, pattern)
        made.append(rules.CompiledRule(i, f"r{i}", RoutingRule.Field.ANY, regex, category, False))
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[0, 10, 50, 200])
    parser.add_argument("--tickets", type=int, default=2000)
    args = parser.parse_args()
    tickets = [(t.subject, t.body) for t in demo.generate(args.tickets, seed=5)]
    print(f"{args.tickets} demo tickets, mean body {statistics.mean(len(b) for _, b in tickets):.0f} chars")
    print(f"{'rules':>6} {'mean µs/ticket':>15} {'p99 µs':>8}")
    for n in args.n:
        compiled = make_rules(n)
        rules._cache.rules = compiled
        rules._cache.checked_at = float("inf")  # keep the bench rules; no database reload
        timings = []
        for subject, body in tickets:
            start = time.perf_counter()
            assert rules.rule_match(subject, body) is None
            timings.append((time.perf_counter() - start) * 1e6)
        timings.sort()
        print(f"{n:>6} {statistics.mean(timings):>15.1f} {timings[int(len(timings) * 0.99)]:>8.1f}")


if __name__ == "__main__":
    main()
