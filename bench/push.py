"""Live queue pushes under load, against a running Assist server.

    python bench/push.py [--url http://127.0.0.1:8000] [--agents 10] [--idle 200] [--rate 25] [--seconds 60]

Opens --agents queue sockets that behave like the queue page (numbered batches
acknowledged, a gap or a reconnect answered by reading the waiting tickets again) and
--idle sockets that never read what they are sent, then posts tickets at --rate per
second (0: as fast as bench/push_load.py's clients can) for --seconds. Prints, per
agent, the tickets its page would be missing (and showing in excess) against the
database's waiting set once the pushes have settled; the p50/p99 time from a ticket's
POST to its row on an agent's page; and /healthz p50 before the load and during it.

It logs in a 'bench-agent' user and posts as the 'bench' integration user of the
database the environment points at (DATABASE_URL), which must be the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import _django, bench_token, wait_for
from push_load import post

GAP_WAIT = 0.5  # as static/triage/queue.js: batches from two server processes may cross
SETTLE = 3.0  # after the last POST, before the pages are compared with the database


def agent_cookie() -> str:
    _django()
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from triage import roles

    user, _ = User.objects.get_or_create(username="bench-agent")
    user.groups.add(Group.objects.get(name=roles.AGENT))
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def waiting_ids() -> set[int]:
    from django.db import connection

    from triage.models import Ticket

    try:
        return set(Ticket.objects.filter(status=Ticket.Status.NEW).values_list("id", flat=True))
    finally:
        connection.close()  # called from worker threads: leave no connection behind


class Agent:
    """A queue page reduced to its set of waiting ticket ids."""

    def __init__(self, url: str, cookie: str) -> None:
        self.url, self.cookie = url, cookie
        self.rows: set[int] = set()
        self.seen_at: dict[int, float] = {}
        self.last: int | None = None
        self.resynced: int | None = None
        self.missing: set[int] = set()
        self.gap_task: asyncio.Task[None] | None = None
        self.during_resync: list[dict[str, Any]] | None = None
        self.resyncs = self.reconnects = self.closed_slow = 0

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        ws_url = self.url.replace("http", "ws", 1) + "/ws/queue/"
        headers = {"Cookie": self.cookie, "Origin": self.url}
        while not stop.is_set():
            try:
                async with connect(ws_url, additional_headers=headers, max_size=None) as ws:
                    self.last = self.resynced = None
                    self.missing.clear()
                    await ws.send(json.dumps({"type": "sync"}))
                    resync = asyncio.create_task(self.resync())
                    async for raw in ws:
                        data = json.loads(raw)
                        if data["event"] == "sync" and self.last is None:
                            self.last = data["seq"]
                        elif data["event"] == "batch":
                            await ws.send(json.dumps({"type": "ack", "seq": data["seq"]}))
                            self.on_batch(data)
                    await resync
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code == 4429:
                    self.closed_slow += 1
            except (OSError, InvalidStatus):
                pass
            if not stop.is_set():
                self.reconnects += 1
                await asyncio.sleep(1)

    def on_batch(self, data: dict[str, Any]) -> None:
        seq = data["seq"]
        if self.resynced is not None and seq <= self.resynced:
            return
        if self.last is not None and seq > self.last + 1:
            self.missing.update(range(self.last + 1, seq))
            if self.gap_task is None:
                self.gap_task = asyncio.create_task(self.after_gap())
        self.missing.discard(seq)
        self.last = seq if self.last is None else max(self.last, seq)
        for event in data["events"]:
            self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        if self.during_resync is not None:
            self.during_resync.append(event)
        if event["event"] == "ticket_added":
            self.rows.add(event["ticket_id"])
            self.seen_at.setdefault(event["ticket_id"], time.time())
        elif event["event"] == "ticket_removed":
            self.rows.discard(event["ticket_id"])
        elif event["event"] in ("rows_changed", "taxonomy") and event.get("reload", True):
            asyncio.get_running_loop().create_task(self.resync())

    async def after_gap(self) -> None:
        await asyncio.sleep(GAP_WAIT)
        self.gap_task = None
        if self.missing:
            await self.resync()

    async def resync(self) -> None:
        self.resyncs += 1
        self.missing.clear()
        self.resynced = self.last
        events: list[dict[str, Any]] = []
        self.during_resync = events
        rows = await asyncio.to_thread(waiting_ids)
        self.during_resync = None
        now = time.time()
        for ticket_id in rows:
            self.seen_at.setdefault(ticket_id, now)
        self.rows = rows
        for event in events:  # arrived while the rows were read: the read may predate them
            if event["event"] == "ticket_added":
                self.rows.add(event["ticket_id"])
            elif event["event"] == "ticket_removed":
                self.rows.discard(event["ticket_id"])


async def idle_socket(url: str, cookie: str) -> asyncio.StreamWriter | None:
    """A socket that completes the handshake and then never reads: its receive buffers
    fill and the server's writes to it back up."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    try:
        reader, writer = await asyncio.open_connection(host, port, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws/queue/ HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {url}\r\nCookie: {cookie}\r\n\r\n"
            ).encode()
        )
        status = await reader.readuntil(b"\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    return writer if status.startswith(b"HTTP/1.1 101") else None


class Health(threading.Thread):
    """GET /healthz back to back (50 ms apart) until stopped; the latencies in ms."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.times: list[float] = []

    def run(self) -> None:
        parts = urlsplit(self.url)
        while not self.stop.is_set():
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
            started = time.perf_counter()
            try:
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                self.times.append((time.perf_counter() - started) * 1000)
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            self.stop.wait(0.05)

    def measure(self) -> list[float]:
        self.stop.set()
        self.join()
        return self.times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def bench(args: argparse.Namespace, cookie: str, token: str) -> None:
    stop = asyncio.Event()
    agents = [Agent(args.url, cookie) for _ in range(args.agents)]
    tasks = [asyncio.create_task(agent.run(stop)) for agent in agents]
    idle = [await idle_socket(args.url, cookie) for _ in range(args.idle)]
    print(f"{args.agents} agent sockets, {sum(w is not None for w in idle)} of {args.idle} idle sockets open")
    await asyncio.sleep(1)

    quiet = Health(args.url)
    quiet.start()
    await asyncio.sleep(3)
    idle_health = quiet.measure()

    loaded = Health(args.url)
    loaded.start()
    stored, failures = await asyncio.to_thread(post, args.url, token, args.rate, args.seconds, args.clients)
    loaded_health = loaded.measure()
    await asyncio.sleep(SETTLE)

    waiting = await asyncio.to_thread(waiting_ids)
    stop.set()
    for task in tasks:
        task.cancel()
    for writer in idle:
        if writer is not None:
            writer.transport.abort()

    rate = len(stored) / args.seconds
    print(f"posted for {args.seconds:.0f} s: {len(stored)} stored ({rate:.1f}/s), {failures} failed")
    print(f"database: {len(waiting)} waiting")
    print("agent  rows  missing  extra  resyncs  reconnects  closed-4429")
    for i, agent in enumerate(agents):
        missing, extra = len(waiting - agent.rows), len(agent.rows - waiting)
        print(
            f"{i:5d} {len(agent.rows):5d} {missing:8d} {extra:6d} {agent.resyncs:8d} "
            f"{agent.reconnects:11d} {agent.closed_slow:12d}"
        )
    posted_at = dict(stored)
    latencies = [
        (agent.seen_at[ticket] - at) * 1000
        for agent in agents
        for ticket, at in posted_at.items()
        if ticket in agent.seen_at and ticket in waiting
    ]
    print(
        f"POST -> row: p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms "
        f"({len(latencies)} rows)"
    )
    print(
        f"/healthz p50: idle {statistics.median(idle_health) if idle_health else float('nan'):.1f} ms, "
        f"loaded {statistics.median(loaded_health) if loaded_health else float('nan'):.1f} ms "
        f"({len(idle_health)} / {len(loaded_health)} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--rate", type=float, default=25.0, help="tickets per second in all; 0: as fast as possible")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8, help="posting processes")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    wait_for(args.url)
    asyncio.run(bench(args, agent_cookie(), args.token or bench_token()))


if __name__ == "__main__":
    main()
