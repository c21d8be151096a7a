"""Hyperparameter search across the Celery workers; the best becomes the next training's parameters."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.learning.services import RetrainRunningError, retrain_request
from triage.learning.tuning import DEFAULT_GRID, grid_combinations
from triage.management.commands.retrain import follow
from triage.models import TrainingRun


class Command(BaseCommand):
    help = "Cross-validate a grid of hyperparameters as a Celery group; the best is used by the next training."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grid", default="", help=f"JSON grid, default {json.dumps(DEFAULT_GRID)}")
        parser.add_argument("--wait", action="store_true", help="follow the search until it ends")
        parser.add_argument("--timeout", type=float, default=4 * 3600)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            grid = json.loads(options["grid"]) if options["grid"] else DEFAULT_GRID
            combos = grid_combinations(grid)
        except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
            raise CommandError(f"--grid: {exc}") from exc
        try:
            run = retrain_request(
                trigger=TrainingRun.Trigger.MANUAL,
                reason="tune from the command line",
                kind=TrainingRun.Kind.TUNE,
                params={"grid": grid},
            )
        except RetrainRunningError as exc:
            raise CommandError(f"not started: {exc}") from exc
        self.stdout.write(f"search #{run.pk} queued: {len(combos)} combinations")
        if not options["wait"]:
            return
        run = follow(run.pk, timeout=options["timeout"], desc="tuning")
        for trial in sorted(run.results["trials"], key=lambda t: -t.get("macro_f1", -1)):
            score = f"{trial['macro_f1']:.4f} ± {trial['std']:.4f}" if "macro_f1" in trial else trial.get("error", "")
            self.stdout.write(f"  {score}  {json.dumps(trial['params'])}  ({trial.get('seconds', 0)} s)")
        best = run.results["best"]
        self.stdout.write(self.style.SUCCESS(f"best macro-F1 {best['macro_f1']:.4f}: {json.dumps(best['params'])}"))
