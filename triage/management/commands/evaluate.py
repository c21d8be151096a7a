"""Score the live model on a labelled file it was not trained on."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify
from sklearn.metrics import f1_score
from tqdm import tqdm

from triage import serving
from triage.csvfile import CsvFileError, read_rows

ABSTAINED = "(needs a human)"


class Command(BaseCommand):
    help = "Evaluate the live model on a labelled CSV: accuracy, macro-F1, abstention, latency."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--text-column", required=True)
        parser.add_argument("--subject-column")
        parser.add_argument("--label-column", required=True)
        parser.add_argument("--unknown-label", help="rows with this label are outside the taxonomy: abstain on them")
        parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")

    def handle(self, *args: Any, **options: Any) -> None:
        model = serving.active_model()
        if model is None:
            raise CommandError("no live model: train one first (python manage.py train)")
        try:
            rows = [
                r
                for r in read_rows(
                    options["file"],
                    text_column=options["text_column"],
                    subject_column=options["subject_column"],
                    label_column=options["label_column"],
                )
                if not r.problem
            ]
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            raise CommandError("no usable rows in the file")
        unknown = options["unknown_label"]
        truth, predicted, latencies = [], [], []
        unknown_total = unknown_caught = 0
        for row in tqdm(rows, desc="evaluating", unit="ticket", disable=None):
            started = time.perf_counter()
            result = model.suggest(row.subject, row.text)
            needs_human = result is None or model.needs_human(result[0])
            latencies.append(time.perf_counter() - started)
            guess = ABSTAINED if needs_human or result is None else result[1].slug
            if unknown is not None and row.label == unknown:
                unknown_total += 1
                unknown_caught += guess == ABSTAINED
                continue
            truth.append(slugify(row.label))
            predicted.append(guess)
        figures = self._figures(truth, predicted, latencies)
        if unknown is not None:
            figures["unknown_recall"] = round(unknown_caught / unknown_total, 4) if unknown_total else None
        figures["model_version"] = model.version
        self._report(figures, options["json"])

    @staticmethod
    def _figures(truth: list[str], predicted: list[str], latencies: list[float]) -> dict[str, Any]:
        answered = [(t, p) for t, p in zip(truth, predicted, strict=True) if p != ABSTAINED]
        ms = np.array(latencies) * 1000
        labels = sorted(set(truth))
        return {
            "rows": len(latencies),
            # An abstention counts as a miss.
            "accuracy": round(sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth), 4)
            if truth
            else None,
            "macro_f1": round(float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 4)
            if truth
            else None,
            "abstention_rate": round(1 - len(answered) / len(truth), 4) if truth else None,
            "answered_accuracy": round(sum(t == p for t, p in answered) / len(answered), 4) if answered else None,
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
        }

    def _report(self, figures: dict[str, Any], as_json: bool) -> None:
        self.stdout.write(f"model v{figures['model_version']} on {figures['rows']} tickets")
        for key in ["accuracy", "macro_f1", "abstention_rate", "answered_accuracy", "unknown_recall"]:
            if key in figures:
                self.stdout.write(f"  {key:<18} {figures[key]}")
        self.stdout.write(f"  latency per ticket p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
        if as_json:
            self.stdout.write(json.dumps(figures))
