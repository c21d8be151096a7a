"""Train a model on confirmed tickets and print its scores on the most recent share."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from triage import serving
from triage.learning.training import train_model
from triage.ml.pipeline import build_pipeline
from triage.ml.training import NotEnoughDataError


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
        if not isinstance(params, dict):
            raise CommandError(
                f"--params must be a JSON object of parameters, like '{{\"C\": 0.5}}', not {options['params']}"
            )
        self._check_params(params)
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
        except TypeError as exc:
            if not params:
                raise
            # A parameter of the wrong type that only the fit notices.
            raise CommandError(f"--params: a parameter of the wrong type? {exc}") from exc
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

    @staticmethod
    def _check_params(params: dict[str, Any]) -> None:
        """Build the pipeline with the overrides before any data is loaded: an unknown
        name or a value of the wrong type (`"word_ngram": 5`) is refused, by name."""
        # streaming_* keys are for the large-data pipeline only (triage/ml/streaming.py).
        shared = {key: value for key, value in params.items() if not key.startswith("streaming_")}
        try:
            build_pipeline(shared)
        except (TypeError, ValueError) as exc:
            culprit = next((key for key in shared if not _builds({key: shared[key]})), None)
            named = f"{culprit}={json.dumps(shared[culprit])}: " if culprit else ""
            raise CommandError(f"--params {named}{exc}") from exc


def _builds(params: dict[str, Any]) -> bool:
    try:
        build_pipeline(params)
    except (TypeError, ValueError):
        return False
    return True
