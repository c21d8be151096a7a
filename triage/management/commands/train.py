"""Train a model on confirmed tickets and print its scores on the most recent share."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from triage import serving
from triage.ml.training import NotEnoughDataError, train_model


class Command(BaseCommand):
    help = "Train the classifier on confirmed tickets; print accuracy and macro-F1 on a time holdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--holdout", type=float, default=None, help="share held out, most recent first (0.2)")
        parser.add_argument(
            "--activate",
            choices=["always", "gate", "never"],
            default="always",
            help="make the new version live: always (default), only if it passes the promotion gate, or never",
        )
        parser.add_argument("--params", default="{}", help="JSON overrides of the pipeline's hyperparameters")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from exc
        bar = tqdm(total=100, desc="training", unit="%", disable=None)

        def progress(stage: str, fraction: float) -> None:
            bar.set_postfix_str(stage)
            bar.update(round(fraction * 100) - bar.n)

        try:
            outcome = train_model(
                params=params, holdout_share=options["holdout"], activate=options["activate"], progress=progress
            )
        except (NotEnoughDataError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        serving.reset()
        version, holdout = outcome.version, outcome.metrics
        self.stdout.write(
            f"model v{version.version}: {version.training_rows} tickets, {len(version.classes)} categories"
        )
        if holdout:
            self.stdout.write(
                f"held-out (most recent {version.holdout_rows} tickets): "
                f"accuracy {holdout['accuracy']:.4f}  macro-F1 {holdout['macro_f1']:.4f}"
            )
        if outcome.active_metrics:
            old = outcome.active_metrics
            self.stdout.write(
                f"live v{old['version']} on the same tickets: "
                f"accuracy {old['accuracy']:.4f}  macro-F1 {old['macro_f1']:.4f}"
            )
        self.stdout.write(f"trained in {version.train_seconds:.1f} s")
        style = self.style.SUCCESS if outcome.activated else self.style.WARNING
        self.stdout.write(style(f"v{version.version} {version.status}: {outcome.reason}"))
