"""Ingest throughput and latency against a running Assist server.

    python bench/ingest.py [--url http://127.0.0.1:8000] [--n 2000] [--concurrency 8] [--rounds 3] [--token KEY]

Measures, against the same server in the same run:
  1. the framework's ceiling: an authenticated GET /api/categories/;
  2. ingest: POST /api/tickets/ (validate, classify, store, broadcast);
and, in-process, the classifier's latency for one ticket. Each client is its own
process with a keep-alive connection, so the load generator's GIL is not the
bottleneck. Each client reconnects every --reconnect requests: the server's worker
processes share one listening socket and a connection stays with the worker that
accepted it, so eight connections for a whole round can land 7:1 on two workers and
leave a core idle (seen: per-round ratios from 0.56 to 1.01 in one run); reconnecting
spreads every round's load the way a stream of real clients does. Without --token
it uses (or creates) a 'bench' integration user in the database the environment
points at (DATABASE_URL), which must be the server's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
    os.environ.setdefault("ASSIST_LOCAL_DEV", "1")  # a development machine: the development keys are fine
    import django

    django.setup()


def bench_token() -> str:
    _django()
    from django.contrib.auth.models import Group, User

    from triage import roles
    from triage.accounts.services import api_token_rotate

    user, _ = User.objects.get_or_create(username="bench")
    user.groups.add(Group.objects.get(name=roles.INTEGRATION))
    return api_token_rotate(user=user, name="bench")


def _client(args: tuple[str, str, str, int, int, int]) -> tuple[list[float], int, list[str]]:
    """One client process: `count` requests over keep-alive connections of `reconnect` requests."""
    url, token, mode, count, seed, reconnect = args
    from triage import demo

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    tickets = demo.generate(count, seed=seed) if mode == "ingest" else []
    latencies: list[float] = []
    failures = 0
    errors: list[str] = []
    for i in range(count):
        if i and reconnect and i % reconnect == 0:
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        if mode == "ingest":
            t = tickets[i]
            body = json.dumps(
                {
                    "source": "bench",
                    "external_id": uuid.uuid4().hex,
                    "subject": t.subject,
                    "body": t.body,
                    "channel": t.channel,
                    "customer_ref": t.customer_ref,
                }
            )
            method, path, ok = "POST", "/api/tickets/", 201
        else:
            body, method, path, ok = None, "GET", "/api/categories/", 200
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
            status, payload = 0, str(exc).encode()
        latencies.append(time.perf_counter() - started)
        if status != ok:
            failures += 1
            if len(errors) < 3:
                errors.append(f"{status} {payload[:200]!r}")
    conn.close()
    return latencies, failures, errors


def run(url: str, token: str, mode: str, n: int, concurrency: int, reconnect: int) -> dict[str, float]:
    per_client = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
    with mp.get_context("fork").Pool(concurrency) as pool:
        started = time.perf_counter()
        results = pool.map(_client, [(url, token, mode, c, 1000 + i, reconnect) for i, c in enumerate(per_client)])
        elapsed = time.perf_counter() - started
    latencies = sorted(lat for r in results for lat in r[0])
    failures = sum(r[1] for r in results)
    for errors in (r[2] for r in results):
        for error in errors:
            print(f"  {mode} failure: {error}", file=sys.stderr)
    return {
        "requests": len(latencies),
        "failures": failures,
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def classifier_latency(samples: int = 1000) -> dict[str, float] | None:
    """p50/p99 of one suggestion on new demo tickets: wall clock, and this thread's CPU time.

    It runs right after the load rounds, when the server's workers and PostgreSQL may
    still be busy; the CPU time is what the call itself costs, the wall clock adds
    whatever else holds the cores.
    """
    _django()
    from triage import demo, serving

    model = serving.active_model()
    if model is None:
        return None
    tickets = demo.generate(samples, seed=99)
    for t in tickets[:50]:
        model.suggest(t.subject, t.body)
    wall, cpu = [], []
    for t in tickets:
        started, started_cpu = time.perf_counter(), time.thread_time()
        model.suggest(t.subject, t.body)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    wall.sort()
    cpu.sort()
    p99 = int(len(wall) * 0.99)
    return {
        "version": model.version,
        "p50_ms": 1000 * statistics.median(wall),
        "p99_ms": 1000 * wall[p99],
        "cpu_p50_ms": 1000 * statistics.median(cpu),
        "cpu_p99_ms": 1000 * cpu[p99],
    }


def wait_for(url: str, seconds: float = 60) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{url} did not answer /healthz within {seconds:.0f} s")
        time.sleep(0.5)
    # /healthz is exempt from the HTTPS redirect; the API is not. Without this
    # check every request of the run would "fail" with a 301.
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=5)
    conn.request("GET", "/api/categories/")
    if conn.getresponse().status in (301, 302, 307, 308):
        sys.exit(
            f"{url} redirects the API to HTTPS: start the server with DJANGO_SECURE_SSL_REDIRECT=0 "
            "for a plain-HTTP benchmark (make run does)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--n", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=600, help="requests of each kind before the rounds")
    parser.add_argument("--rounds", type=int, default=3, help="alternating ceiling/ingest rounds")
    parser.add_argument("--token", default=os.environ.get("ASSIST_TOKEN"))
    parser.add_argument(
        "--reconnect", type=int, default=25, help="requests per connection (0: one connection per client per round)"
    )
    args = parser.parse_args()
    token = args.token or bench_token()
    wait_for(args.url)

    print(
        f"server {args.url}, {args.concurrency} concurrent clients, "
        f"{args.rounds} rounds of {args.n} requests per measurement"
    )
    run(args.url, token, "ceiling", args.warmup, args.concurrency, args.reconnect)
    run(args.url, token, "ingest", args.warmup, args.concurrency, args.reconnect)
    # Alternate the two measurements so that whatever else the machine does
    # weighs on both alike; report the median round.
    rounds = []
    for i in range(args.rounds):
        ceiling = run(args.url, token, "ceiling", args.n, args.concurrency, args.reconnect)
        ingest = run(args.url, token, "ingest", args.n, args.concurrency, args.reconnect)
        ratio = ingest["rate"] / ceiling["rate"]
        rounds.append((ratio, ceiling, ingest))
        print(
            f"  round {i + 1}: ceiling {ceiling['rate']:.1f} req/s, "
            f"ingest {ingest['rate']:.1f} req/s, ratio {ratio:.2f}"
        )
    ratio, ceiling, ingest = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
    print("median round:")
    for name, r in (("GET /api/categories/ (ceiling)", ceiling), ("POST /api/tickets/ (ingest)", ingest)):
        print(
            f"{name:<32} {r['rate']:7.1f} req/s   p50 {r['p50_ms']:6.1f} ms   p99 {r['p99_ms']:6.1f} ms"
            f"   failures {r['failures']}/{r['requests']}"
        )
    failures = sum(c["failures"] + g["failures"] for _, c, g in rounds)
    print(f"ingest / ceiling ratio: {ratio:.2f}   failed requests in all rounds: {failures}")
    latency = classifier_latency()
    if latency is None:
        print("classifier: no active model in this database")
    else:
        print(
            f"classifier (model v{latency['version']}, one ticket, in-process): "
            f"p50 {latency['p50_ms']:.2f} ms   p99 {latency['p99_ms']:.2f} ms wall clock; "
            f"CPU time p50 {latency['cpu_p50_ms']:.2f} ms   p99 {latency['cpu_p99_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
