"""Create a realistic bank support history, the demo users and an ingest token."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from tqdm import tqdm

from triage import demo, roles
from triage.accounts.services import api_token_rotate
from triage.models import Category, Queue
from triage.services import HistoryRow, category_ensure, tickets_import

# Where the demo's categories go: a lost card or fraud is urgent, the rest by product.
DEMO_ROUTING: dict[str, tuple[str, bool, str]] = {
    "lost-or-stolen-card": ("urgent", True, "#c0392b"),
    "suspected-fraud": ("urgent", True, "#8e44ad"),
    "card-declined": ("cards", False, "#2471a3"),
    "card-delivery": ("cards", False, "#1f8a70"),
    "cash-and-atm": ("cards", False, "#16a085"),
    "transfers": ("payments", False, "#d68910"),
    "fees-and-charges": ("payments", False, "#b9770e"),
    "disputes-and-refunds": ("payments", False, "#a04000"),
}

DEMO_USERS = [("agent", roles.AGENT), ("supervisor", roles.SUPERVISOR), ("admin", roles.ADMIN)]
FEED_USER = "feeder"
DEMO_TOKEN_NAME = "Demo logins"  # noqa: S105 - a label, not a secret
LOGINS_FILE = Path(settings.BASE_DIR) / "var" / "demo-logins.txt"


class Command(BaseCommand):
    help = "Seed demo categories, a labelled ticket history and demo users (prints their passwords)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=3000, help="labelled history tickets (default 3000)")
        parser.add_argument("--seed", type=int, default=7, help="random seed for the generator")
        parser.add_argument("--days", type=int, default=90, help="spread the history over this many days")
        parser.add_argument(
            "--ends-days-ago", type=int, default=0, help="the history's newest ticket is this many days old (default 0)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        categories = {
            slug: category_ensure(slug=slug, name=name, description=description)
            for slug, (name, description) in demo.CATEGORIES.items()
        }
        self.stdout.write(f"{len(categories)} categories")
        self._route(categories)

        count = options["tickets"]
        now = timezone.now() - timedelta(days=max(0, options["ends_days_ago"]))
        step = timedelta(days=options["days"]) / max(count, 1)
        rows = [
            HistoryRow(
                external_id=f"demo-{options['seed']}-{i}",
                subject=t.subject,
                body=t.body,
                category=categories[t.category],
                received_at=now - step * (count - i),
                channel=t.channel,
                customer_ref=t.customer_ref,
            )
            for i, t in enumerate(demo.generate(count, seed=options["seed"]))
        ]
        created = 0
        with tqdm(total=len(rows), desc="history", unit="ticket", disable=None) as bar:
            for start in range(0, len(rows), 1000):
                batch = rows[start : start + 1000]
                created += tickets_import(rows=batch, source="demo")
                bar.update(len(batch))
        self.stdout.write(f"{created} new labelled tickets ({len(rows) - created} already there)")

        lines = self._users()
        LOGINS_FILE.parent.mkdir(parents=True, exist_ok=True)
        LOGINS_FILE.write_text("\n".join(lines) + "\n")
        os.chmod(LOGINS_FILE, 0o600)
        self.stdout.write(self.style.SUCCESS("Demo logins (also in var/demo-logins.txt):"))
        for line in lines:
            self.stdout.write("  " + line)

    def _users(self) -> list[str]:
        User = get_user_model()
        lines = []
        for username, role in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = role == roles.ADMIN
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            lines.append(f"{role:<11} {username} / {password}")
        feeder, _ = User.objects.get_or_create(username=FEED_USER)
        feeder.set_unusable_password()
        feeder.save()
        feeder.groups.set([Group.objects.get(name=roles.INTEGRATION)])
        # Keys are stored as digests: this one is only ever in the logins file.
        key = api_token_rotate(user=feeder, name=DEMO_TOKEN_NAME)
        lines.append(f"{'api token':<11} {FEED_USER}: Authorization: Token {key}")
        return lines

    def _route(self, categories: dict[str, Category]) -> None:
        """Give the demo categories queues, urgency and colours (once: an admin's later edits stay)."""
        queues = {q.slug: q for q in Queue.objects.all()}
        for slug, category in categories.items():
            queue_slug, urgent, color = DEMO_ROUTING.get(slug, ("general", False, category.color))
            if category.queue_id is None and queue_slug in queues:
                category.queue = queues[queue_slug]
                category.urgent = urgent
                category.color = color
                category.save(update_fields=["queue", "urgent", "color"])
