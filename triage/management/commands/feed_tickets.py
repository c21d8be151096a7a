"""Post new unlabelled demo tickets through the API at a steady rate, so the queue moves."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from triage import demo
from triage.management.commands.seed_demo import FEED_USER


class Command(BaseCommand):
    help = "Post demo tickets to the ingest API (POST /api/tickets/) at --rate per second."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=0.2, help="tickets per second (default 0.2)")
        parser.add_argument("--count", type=int, default=0, help="stop after this many (default: run forever)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the Assist server")
        parser.add_argument("--token", help=f"API token (default: the '{FEED_USER}' user's token)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rate"] <= 0:
            raise CommandError("--rate must be positive")
        token = options["token"] or Token.objects.filter(user__username=FEED_USER).values_list("key", flat=True).first()
        if not token:
            raise CommandError(f"no token: pass --token, or run seed_demo to create the '{FEED_USER}' user")
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        endpoint = options["url"].rstrip("/") + "/api/tickets/"
        rng = random.Random()
        sent = 0
        while not options["count"] or sent < options["count"]:
            ticket = demo.generate(1, seed=rng.randrange(1 << 30))[0]
            payload = {
                "source": "demo-feed",
                "external_id": uuid.uuid4().hex,
                "subject": ticket.subject,
                "body": ticket.body,
                "channel": ticket.channel,
                "customer_ref": ticket.customer_ref,
            }
            if self._post(session, endpoint, payload):
                sent += 1
            time.sleep(rng.expovariate(options["rate"]))
        self.stdout.write(f"posted {sent} tickets")

    def _post(self, session: requests.Session, endpoint: str, payload: dict[str, str]) -> bool:
        # The server may still be starting, or restarting: wait and retry, never crash.
        for attempt in range(30):
            try:
                response = session.post(endpoint, json=payload, timeout=10)
            except requests.RequestException as exc:
                self.stderr.write(f"feed: {endpoint} unreachable ({exc.__class__.__name__}); retrying")
                time.sleep(min(2**attempt, 10))
                continue
            if response.status_code in (200, 201):
                suggestion = response.json().get("suggestion") or {}
                self.stdout.write(
                    f"feed: ticket {response.json()['id']} → {suggestion.get('category', 'no suggestion')}"
                )
                return True
            self.stderr.write(f"feed: {response.status_code} {response.text[:200]}")
            if response.status_code < 500:
                return False
            time.sleep(2)
        return False
