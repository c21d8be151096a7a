"""First-run set-up for `make run`: demo data and a first model when the database is empty.

On an empty database the demo is a support month: a labelled history that ends four
weeks ago, a first model trained then, and four weeks of agents' decisions with two
scheduled retrains since (triage/demo_activity.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage import roles
from triage.demo_activity import DEMO_SOURCE, clock, demo_month_make
from triage.management.commands.seed_demo import LOGINS_FILE
from triage.ml.training import NotEnoughDataError
from triage.models import ModelVersion, Ticket

DEMO_WEEKS = 4


class Command(BaseCommand):
    help = "Seed the demo and train a first model if the database is empty; print the URL and logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, **options: Any) -> None:
        demo_month = not Ticket.objects.exists()
        if demo_month:
            self.stdout.write("Empty database: seeding a demo support history.")
            call_command("seed_demo", ends_days_ago=DEMO_WEEKS * 7, stdout=self.stdout)
        if ModelVersion.objects.live() is None:
            self.stdout.write("No live model: training the first one.")
            history_end = Ticket.objects.order_by("-received_at").values_list("received_at", flat=True).first()
            try:
                if demo_month and history_end is not None:
                    with clock(history_end + timedelta(hours=1)):  # the demo's first model dates from then
                        call_command("train", stdout=self.stdout)
                else:
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
        self.stdout.write(f"Prepared. Starting the web server, the worker and the demo feed for {options['url']}")
        if not LOGINS_FILE.exists():
            self.stdout.write("Logins: run `python manage.py seed_demo` to (re)create the demo users and passwords.")

    def _demo_activity(self) -> None:
        """On a fresh demo, four weeks of agents' decisions and two retrains, so the
        reports, the models page and drift have a month to show."""
        agents = list(User.objects.filter(username="agent"))
        if not agents or Ticket.objects.filter(source=DEMO_SOURCE).exists():
            return
        for username, first_name in (("agent2", "Demo"), ("agent3", "New hire")):
            colleague, _ = User.objects.get_or_create(username=username, defaults={"first_name": first_name})
            colleague.set_unusable_password()
            colleague.save()
            colleague.groups.add(Group.objects.get(name=roles.AGENT))
            agents.append(colleague)
        self.stdout.write(f"Demo agents triage {DEMO_WEEKS} weeks of tickets; the model is retrained twice.")
        month = demo_month_make(agents=agents, weeks=DEMO_WEEKS)
        versions = ", ".join(
            f"v{run.model_version.version} {'promoted' if run.results.get('activated') else 'kept out by the gate'}"
            for run in month.retrains
            if run.model_version
        )
        self.stdout.write(f"  {month.decisions} decisions stored; retrains: {versions or 'none finished'}.")
