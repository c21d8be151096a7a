"""Score the live model on a labelled file it was not trained on."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from sklearn.metrics import f1_score
from tqdm import tqdm

from triage import serving
from triage.csvfile import CsvFileError, read_rows
from triage.ml.scoring import risk_coverage
from triage.taxonomy.selectors import category_slugs_by_label

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
        parser.add_argument(
            "--curve", action="store_true", help="print the risk-coverage table: accuracy when answering the most sure"
        )
        parser.add_argument("--plot", type=Path, metavar="FILE", help="write the risk-coverage curve as a PNG")

    def handle(self, *args: Any, **options: Any) -> None:
        model = serving.active_model()
        if model is None:
            raise CommandError("no live model: train one first (python manage.py train)")
        try:
            all_rows = list(
                read_rows(
                    options["file"],
                    text_column=options["text_column"],
                    subject_column=options["subject_column"],
                    label_column=options["label_column"],
                )
            )
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc
        rows = [r for r in all_rows if not r.problem]
        skipped = [f"line {r.line}: {r.problem}" for r in all_rows if r.problem]
        if not rows:
            raise CommandError(f"no usable rows in the file ({len(skipped)} skipped)")
        unknown = options["unknown_label"]
        slugs = self._label_slugs({r.label for r in rows} - {unknown})
        truth, predicted, latencies = [], [], []
        first, top3, confidence = [], [], []  # the model's own choices, abstaining or not
        unknown_total = unknown_caught = 0
        for row in tqdm(rows, desc="evaluating", unit="ticket", disable=None):
            started = time.perf_counter()
            result = model.suggest(row.subject, row.text, cached=False)
            needs_human = result is None or model.needs_human(result[0])
            latencies.append(time.perf_counter() - started)
            guess = ABSTAINED if needs_human or result is None else result[1].slug
            if unknown is not None and row.label == unknown:
                unknown_total += 1
                unknown_caught += guess == ABSTAINED
                continue
            truth.append(slugs[row.label])
            predicted.append(guess)
            choices = [] if result is None else [result[1].slug, *(a for a, _ in result[0].alternatives[:2])]
            first.append(bool(choices) and choices[0] == truth[-1])
            top3.append(truth[-1] in choices)
            confidence.append(0.0 if result is None else result[0].confidence)
        for message in skipped[:20]:
            self.stderr.write("  skipped " + message)
        if len(skipped) > 20:
            self.stderr.write(f"  ... and {len(skipped) - 20} more")
        figures = self._figures(truth, predicted, latencies)
        if unknown is not None:
            figures["unknown_recall"] = round(unknown_caught / unknown_total, 4) if unknown_total else None
        if truth:
            figures["top1_accuracy"] = round(float(np.mean(first)), 4)
            figures["top3_accuracy"] = round(float(np.mean(top3)), 4)
        figures["model_version"] = model.version
        curve = risk_coverage(np.array(confidence), np.array(first))
        if options["curve"]:
            self._curve(curve)
        if options["plot"]:
            self._plot(curve, options["plot"], model.version)
        self._report(figures, options["json"])

    @staticmethod
    def _label_slugs(labels: set[str]) -> dict[str, str]:
        """Each label's category slug (a slug or a name; a merged category's survivor);
        a label outside the taxonomy is refused."""
        found = category_slugs_by_label(labels)
        missing = sorted(label for label, slug in found.items() if slug is None)
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10]) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            raise CommandError(
                f"labels not in the taxonomy: {shown}. Name a category by its slug or name, "
                "or mark tickets outside the taxonomy with --unknown-label."
            )
        return {label: slug for label, slug in found.items() if slug is not None}

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
        keys = ["top1_accuracy", "top3_accuracy", "accuracy", "macro_f1", "abstention_rate", "answered_accuracy"]
        for key in [*keys, "unknown_recall"]:
            if key in figures:
                self.stdout.write(f"  {key:<18} {figures[key]}")
        self.stdout.write(f"  latency per ticket p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
        if as_json:
            self.stdout.write(json.dumps(figures))

    def _curve(self, curve: list[dict[str, float]]) -> None:
        self.stdout.write("risk-coverage (the first choice, answering only the most confident share):")
        self.stdout.write("  coverage  confidence at least  accuracy on answered")
        for row in curve:
            self.stdout.write(
                f"  {row['coverage']:>8.0%}  {row['min_confidence']:>19.3f}  {row['answered_accuracy']:>20.4f}"
            )

    @staticmethod
    def _plot(curve: list[dict[str, float]], path: Path, version: int) -> None:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display
        from matplotlib import pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        ax.plot([r["coverage"] for r in curve], [r["answered_accuracy"] for r in curve], marker="o")
        ax.set_xlabel("coverage (share of tickets answered, most confident first)")
        ax.set_ylabel("accuracy on the answered tickets")
        ax.set_title(f"Risk-coverage, model v{version}")
        ax.set_xlim(0, 1.02)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
