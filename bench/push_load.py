"""Load generator for bench/push.py: tickets posted to a running Assist server at a
given rate, from several client processes, each ticket's POST time recorded.

    python bench/push_load.py --url http://127.0.0.1:8000 --rate 25 --seconds 10 [--clients 4]

--rate 0 posts as fast as the clients can (the ingest benchmark's full rate). Prints
how many tickets were stored and the achieved rate; bench/push.py imports `post`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import bench_token


def _client(args: tuple[str, str, float, float, int, float]) -> tuple[list[tuple[int, float]], int]:
    """One client process: POSTs every 1/rate seconds (rate 0: back to back) from `start`
    (a wall-clock time shared by every client) for `seconds`; (ticket id, POST time)
    of each stored ticket, and the number of failures."""
    url, token, rate, seconds, seed, start = args
    from triage import demo

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    tickets = demo.generate(500, seed=seed)
    stored: list[tuple[int, float]] = []
    failures = 0
    time.sleep(max(0.0, start - time.time()))
    i = 0
    while time.time() < start + seconds:
        if rate > 0:
            due = start + i / rate
            if due > time.time():
                time.sleep(due - time.time())
        t = tickets[i % len(tickets)]
        body = json.dumps(
            {"source": "bench", "external_id": uuid.uuid4().hex, "subject": t.subject, "body": t.body}
        ).encode()
        posted = time.time()
        try:
            conn.request("POST", "/api/tickets/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status == 201:
                stored.append((int(json.loads(data)["id"]), posted))
            else:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        i += 1
    conn.close()
    return stored, failures


def post(url: str, token: str, rate: float, seconds: float, clients: int) -> tuple[list[tuple[int, float]], int]:
    """Post for `seconds` at `rate` tickets/s in all (0: as fast as `clients` can)."""
    start = time.time() + 1.0  # every client process up before the first POST
    per_client = rate / clients if rate > 0 else 0.0
    jobs = [(url, token, per_client, seconds, 1000 + i, start) for i in range(clients)]
    with mp.get_context("spawn").Pool(clients) as pool:
        results = pool.map(_client, jobs)
    stored = [pair for result in results for pair in result[0]]
    return stored, sum(result[1] for result in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=25.0, help="tickets per second in all; 0: as fast as possible")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    stored, failures = post(args.url, args.token or bench_token(), args.rate, args.seconds, args.clients)
    rate = len(stored) / args.seconds
    print(f"stored {len(stored)} tickets in {args.seconds:.0f} s ({rate:.1f}/s), {failures} failed")


if __name__ == "__main__":
    main()
