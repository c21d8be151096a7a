"""First-run set-up for `make run`: demo data and a first model when the database is empty."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage import roles
from triage.demo_activity import DEMO_SOURCE, demo_decisions_make
from triage.management.commands.seed_demo import LOGINS_FILE
from triage.ml.training import NotEnoughDataError
from triage.models import ModelVersion, Ticket


class Command(BaseCommand):
    help = "Seed the demo and train a first model if the database is empty; print the URL and logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Ticket.objects.exists():
            self.stdout.write("Empty database: seeding a demo support history.")
            call_command("seed_demo", stdout=self.stdout)
        if ModelVersion.objects.live() is None:
            self.stdout.write("No live model: training the first one.")
            try:
                call_command("train", stdout=self.stdout)
            except CommandError as exc:
                if not isinstance(exc.__cause__, NotEnoughDataError):
                    raise
                # The product works without a model: tickets simply come without a suggestion.
                self.stdout.write(
                    self.style.WARNING(
                        f"Not enough triaged tickets to train a model yet ({exc}). Tickets will show "
                        '"No suggestion" until agents have triaged enough; then run `python manage.py train`.'
                    )
                )
            else:
                self._demo_activity()
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Assist is starting at {options['url']}"))
        if LOGINS_FILE.exists():
            self.stdout.write("Logins:")
            for line in LOGINS_FILE.read_text().splitlines():
                self.stdout.write("  " + line)
        else:
            self.stdout.write("Logins: run `python manage.py seed_demo` to (re)create the demo users and passwords.")
        self.stdout.write("Stop with Ctrl-C.\n")

    def _demo_activity(self) -> None:
        """On a fresh demo, a morning of agents' decisions so the reports have data."""
        agents = list(User.objects.filter(username="agent"))
        if not agents or Ticket.objects.filter(source=DEMO_SOURCE).exists():
            return
        second, _ = User.objects.get_or_create(username="agent2", defaults={"first_name": "Demo"})
        second.set_unusable_password()
        second.save()
        second.groups.add(*User.objects.get(username="agent").groups.filter(name=roles.AGENT))
        self.stdout.write("Demo agents triage a morning's tickets (for the reports).")
        count = demo_decisions_make(agents=[*agents, second])
        self.stdout.write(f"  {count} decisions stored.")
