"""Decisions out, measured against a running Assist (web, plus the integrations worker
or ASSIST_INTEGRATIONS_IN_WEB) and a receiver this script runs on --receiver-port.

    python bench/webhooks.py [--url http://127.0.0.1:8000] [--decisions 1000] [--down-seconds 600]
                             [--latency-decisions 300] [--load-clients 4] [--receiver-port 9250]

1. Latency: --latency-decisions agent decisions (POST /api/tickets/{id}/triage/) while
   --load-clients processes post tickets as bench/ingest.py does; for each
   `ticket.triaged` event, the time from the decision (its `decided_at`, stamped in the
   decision's transaction) to the receiver answering 200: p50 and p99.
2. Receiver down: the receiver stops; --decisions decisions are made under the same
   ingest load; after --down-seconds it comes back. Printed: how many of those
   decisions' events arrived (counted by event id: lost must be 0; duplicates carry
   the same id), how long after the receiver came back the last one arrived, and
   ingest and triage latency (p50/p99) while the receiver was down, beside phase 1's.

It uses the database the environment points at (DATABASE_URL), which must be the
server's: it registers the endpoint and the bench users there. Decisions are made on
tickets it posts itself (source "bench-webhooks").
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import sys
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest import _client, _django, bench_token, wait_for  # bench/ingest.py, beside this script


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


class Receiver:
    """A webhook receiver that verifies each signature and records each event's arrival."""

    def __init__(self, port: int, secret: str) -> None:
        from standardwebhooks import Webhook

        self.port, self.webhook = port, Webhook(secret)
        self.arrivals: list[tuple[str, float, dict[str, Any]]] = []  # (event id, wall time of the 200, event)
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    event = receiver.webhook.verify(body, dict(self.headers))
                except Exception:
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()
                with receiver.lock:
                    receiver.arrivals.append((event["id"], time.time(), event))

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()  # connections are refused until start()
            self.server = None


def setup(url: str, receiver_url: str) -> tuple[str, str, str, str]:
    """The ingest token, an agent's token, the endpoint's secret and a category slug."""
    _django()
    from django.contrib.auth.models import Group, User

    from triage import roles
    from triage.accounts.services import api_token_rotate
    from triage.integrations import services
    from triage.integrations.models import WebhookEndpoint
    from triage.integrations.selectors import endpoint_secret
    from triage.models import Category

    agent, _ = User.objects.get_or_create(username="bench-agent")
    agent.groups.add(Group.objects.get(name=roles.AGENT))
    agent_token = api_token_rotate(user=agent, name="bench-webhooks")
    WebhookEndpoint.objects.filter(name="bench receiver").delete()
    endpoint, secret = services.endpoint_save(
        actor=None, name="bench receiver", url=receiver_url, events=["ticket.triaged"]
    )
    category = Category.objects.filter(is_active=True).order_by("pk").values_list("slug", flat=True).first()
    if category is None:
        sys.exit("no active category: run `make run` once (it seeds the demo) or import a history")
    return bench_token(), agent_token, secret or endpoint_secret(endpoint), category


def api(url: str, token: str, method: str, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    started = time.perf_counter()
    conn.request(
        method, path, json.dumps(payload), {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    )
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, json.loads(body or b"{}"), elapsed


def decisions(
    url: str, ingest_token: str, agent_token: str, category: str, count: int
) -> tuple[list[int], list[float]]:
    """Post `count` tickets and decide each; the tickets' ids and the decisions' latencies."""
    ids, latencies = [], []
    for i in range(count):
        status, ticket, _ = api(
            url,
            ingest_token,
            "POST",
            "/api/tickets/",
            {"source": "bench-webhooks", "external_id": uuid.uuid4().hex, "subject": "Card", "body": f"card {i}"},
        )
        if status != 201:
            sys.exit(f"ingest failed: {status} {ticket}")
        status, _, elapsed = api(
            url, agent_token, "POST", f"/api/tickets/{ticket['id']}/triage/", {"category": category}
        )
        if status != 200:
            sys.exit(f"triage failed: {status}")
        ids.append(ticket["id"])
        latencies.append(elapsed)
    return ids, latencies


def with_load(url: str, token: str, clients: int, requests_each: int, work: Any) -> tuple[Any, list[float]]:
    """Run `work()` while `clients` processes post tickets; its result and their latencies."""
    if clients <= 0:
        return work(), []
    with mp.get_context("fork").Pool(clients) as pool:
        load = pool.map_async(_client, [(url, token, "ingest", requests_each, 7000 + i, 50) for i in range(clients)])
        result = work()
        latencies = [lat for r in load.get() for lat in r[0]]
    return result, latencies


def events_for(tickets: list[int]) -> set[str]:
    from triage.integrations.models import OutboxEvent

    return set(
        OutboxEvent.objects.filter(ticket_id__in=tickets, type="ticket.triaged").values_list("event_id", flat=True)
    )


def ms(values: list[float]) -> str:
    return f"p50 {1000 * percentile(values, 0.5):.1f} ms, p99 {1000 * percentile(values, 0.99):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--decisions", type=int, default=1000, help="decisions made while the receiver is down")
    parser.add_argument("--down-seconds", type=float, default=600)
    parser.add_argument("--latency-decisions", type=int, default=300)
    parser.add_argument("--load-clients", type=int, default=4)
    parser.add_argument("--load-requests", type=int, default=500, help="tickets each load client posts per phase")
    parser.add_argument("--receiver-port", type=int, default=9250)
    parser.add_argument("--drain-timeout", type=float, default=1800, help="seconds to wait for every event after")
    args = parser.parse_args()

    wait_for(args.url)
    ingest_token, agent_token, secret, category = setup(args.url, f"http://127.0.0.1:{args.receiver_port}/hook")
    receiver = Receiver(args.receiver_port, secret)
    receiver.start()

    (tickets, triage_up), ingest_up = with_load(
        args.url,
        ingest_token,
        args.load_clients,
        args.load_requests,
        lambda: decisions(args.url, ingest_token, agent_token, category, args.latency_decisions),
    )
    expected = events_for(tickets)
    deadline = time.monotonic() + 120
    while len({a[0] for a in receiver.arrivals} & expected) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.1)
    delays = [
        arrived - datetime.fromisoformat(event["data"]["decision"]["decided_at"]).timestamp()
        for event_id, arrived, event in receiver.arrivals
        if event_id in expected
    ]
    print(f"1. decision → receiver's 200, {len(delays)} events under ingest load: {ms(delays)}")
    print(f"   ingest {ms(ingest_up)}; triage {ms(triage_up)}")

    receiver.stop()
    down_at = time.monotonic()
    (tickets, triage_down), ingest_down = with_load(
        args.url,
        ingest_token,
        args.load_clients,
        args.load_requests,
        lambda: decisions(args.url, ingest_token, agent_token, category, args.decisions),
    )
    time.sleep(max(0.0, args.down_seconds - (time.monotonic() - down_at)))
    before = len(receiver.arrivals)
    receiver.start()
    back_at, back_wall = time.monotonic(), time.time()
    expected = events_for(tickets)
    deadline = back_at + args.drain_timeout
    while len({a[0] for a in receiver.arrivals[before:]} & expected) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.5)
    arrived = [a for a in receiver.arrivals[before:] if a[0] in expected]
    distinct = {a[0] for a in arrived}
    last = max((a[1] for a in arrived), default=back_wall) - back_wall
    print(
        f"2. receiver down {back_at - down_at:.0f} s, {len(tickets)} decisions: {len(distinct)} of {len(expected)} "
        f"events arrived (lost {len(expected - distinct)}, duplicates {len(arrived) - len(distinct)}, by id), "
        f"the last {last:.1f} s after it came back"
    )
    print(f"   while down: ingest {ms(ingest_down)}; triage {ms(triage_down)}")
    receiver.stop()


if __name__ == "__main__":
    main()
