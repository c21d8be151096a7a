"""Post new unlabelled demo tickets through the API at a steady rate, so the queue moves."""

from __future__ import annotations

import math
import random
import time
import uuid
from typing import Any

import requests
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage import demo
from triage.accounts.services import api_token_rotate
from triage.management.commands.seed_demo import FEED_USER

# Consecutive failed posts (server down, errors, answers that are not tickets) before a
# bounded feed (--count N) stops. An endless one (--count 0: the demo feed under `make
# run`, where one process ending stops them all) keeps trying, 30 s apart at most, so a
# restarting server does not end it.
MAX_FAILURES = 5
# Answers no retry can change.
FATAL = {
    401: "the token was refused; pass a valid --token (or run seed_demo for the feed user's)",
    403: "the token's user may not post tickets; it needs the integration role",
    404: "no ticket API there; is --url the Assist server?",
}


class Command(BaseCommand):
    help = "Post demo tickets to the ingest API (POST /api/tickets/) at --rate per second."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=0.2, help="tickets per second (default 0.2)")
        parser.add_argument("--count", type=int, default=0, help="stop after this many (default: run forever)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the Assist server")
        parser.add_argument("--token", help=f"API token (default: a fresh token of the '{FEED_USER}' user)")
        parser.add_argument("--wait", action="store_true", help="first wait (quietly, up to 3 min) for the server")

    def handle(self, *args: Any, **options: Any) -> None:
        rate, count = options["rate"], options["count"]
        if not math.isfinite(rate) or rate <= 0:
            raise CommandError(f"--rate must be a positive number of tickets per second, not {rate}")
        if count < 0:
            raise CommandError(f"--count must be 0 (run forever) or more, not {count}")
        token = options["token"]
        if not token:
            feeder = User.objects.filter(username=FEED_USER, is_active=True).first()
            if feeder is None:
                raise CommandError(f"no token: pass --token, or run seed_demo to create the '{FEED_USER}' user")
            # Keys are stored as digests, so the feed cannot read one back: it takes its own.
            token = api_token_rotate(user=feeder, name="Demo feed")
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        endpoint = options["url"].rstrip("/") + "/api/tickets/"
        if options["wait"]:
            from triage.management.commands.announce import wait_until_serving

            wait_until_serving(options["url"], timeout=180.0)  # then as usual: failures are reported
        rng = random.Random()
        sent = failures = 0
        while not count or sent < count:
            ticket = demo.generate(1, seed=rng.randrange(1 << 30))[0]
            payload = {
                "source": "demo-feed",
                "external_id": uuid.uuid4().hex,
                "subject": ticket.subject,
                "body": ticket.body,
                "channel": ticket.channel,
                "customer_ref": ticket.customer_ref,
            }
            problem = self._post(session, endpoint, payload)
            if not problem:
                sent, failures = sent + 1, 0
                time.sleep(min(rng.expovariate(rate), 3600.0))  # a tiny --rate: an hour apart at most
                continue
            failures += 1
            self.stderr.write(f"feed: {problem}")
            if count and failures >= MAX_FAILURES:
                raise CommandError(f"{failures} posts in a row failed, stopping after {sent} tickets; last: {problem}")
            # The server may still be starting, or restarting: wait longer each time.
            time.sleep(min(2**failures, 30))
        self.stdout.write(f"posted {sent} tickets")

    def _post(self, session: requests.Session, endpoint: str, payload: dict[str, str]) -> str:
        """Post one ticket; returns why it failed, or "" when it was stored. An answer that
        no retry can change (a bad token, no permission, no such URL) stops the feed."""
        try:
            response = session.post(endpoint, json=payload, timeout=10)
        except requests.RequestException as exc:
            return f"{endpoint} unreachable ({exc.__class__.__name__})"
        if response.status_code in FATAL:
            raise CommandError(f"{endpoint} answered {response.status_code}: {FATAL[response.status_code]}")
        if response.status_code not in (200, 201):
            if "html" in response.headers.get("Content-Type", ""):
                return f"{endpoint} answered {response.status_code} with a web page, not the API: is --url Assist?"
            return f"{endpoint} answered {response.status_code}: {response.text[:200]}"
        try:
            answer = response.json()
            ticket_id = answer["id"]
            category = (answer.get("suggestion") or {}).get("category", "no suggestion")
        except (ValueError, TypeError, KeyError, AttributeError):
            kind = response.headers.get("Content-Type", "no content type")
            return f"{endpoint} answered {response.status_code} but not with a ticket ({kind}); is --url Assist?"
        self.stdout.write(f"feed: ticket {ticket_id} → {category}")
        return ""
