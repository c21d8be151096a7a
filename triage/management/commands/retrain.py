"""Queue a retrain on the Celery workers; with --wait, follow it with a progress bar."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from triage.learning.services import RetrainRunningError, retrain_request
from triage.models import TrainingRun


def follow(run_id: int, *, timeout: float, desc: str) -> TrainingRun:
    """Poll a run until it ends, drawing its progress; CommandError on failure or timeout."""
    bar = tqdm(total=100, desc=desc, unit="%", disable=None)
    deadline = time.monotonic() + timeout
    try:
        while True:
            run = TrainingRun.objects.get(pk=run_id)
            bar.set_postfix_str(run.stage[:60])
            bar.update(round(run.progress * 100) - bar.n)
            if not run.is_open:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"run #{run_id} still {run.status} after {timeout:.0f} s (is a worker running?)")
            time.sleep(0.5)
    finally:
        bar.close()
    if run.status == TrainingRun.Status.FAILED:
        raise CommandError(f"run #{run_id} failed: {run.error}")
    return run


class Command(BaseCommand):
    help = "Ask the Celery workers to retrain now. The new version goes live only if it passes the gate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait with --wait")
        parser.add_argument("--reason", default="requested from the command line")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = retrain_request(trigger=TrainingRun.Trigger.MANUAL, reason=options["reason"])
        except RetrainRunningError as exc:
            raise CommandError(f"not started: {exc}") from exc
        self.stdout.write(f"training run #{run.pk} queued")
        if not options["wait"]:
            return
        run = follow(run.pk, timeout=options["timeout"], desc="training")
        version = run.model_version
        if version is None:
            raise CommandError(f"run #{run.pk} ended without a model")
        style = self.style.SUCCESS if run.results.get("activated") else self.style.WARNING
        self.stdout.write(style(f"v{version.version} {version.status}: {run.results.get('reason', '')}"))
