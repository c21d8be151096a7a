"""How a model does on labelled tickets: the figures every version records and the
promotion gate compares (accuracy, macro-F1, per category, calibration, thresholds)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from triage.ml.abstention import abstention_thresholds
from triage.ml.suggest import Suggestion


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top label: |confidence - accuracy| averaged over
    equal-width confidence bins, weighted by the share of tickets in each."""
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(error)


class SuggestsMany(Protocol):
    def suggest_many(self, pairs: Iterable[tuple[str, str]]) -> list[Suggestion]: ...


def score(
    suggester: SuggestsMany,
    pairs: list[tuple[str, str]],
    labels: list[str],
    blind: list[bool] | None = None,
    *,
    target_precision: float,
) -> dict[str, Any]:
    """How a model does on labelled tickets: accuracy, macro-F1, per-category
    precision/recall/F1, the confusion matrix, calibration error, the share that
    could be auto-triaged at `target_precision` (the "needs a human" thresholds are
    picked for it), and the same on the blind slice."""
    if not pairs:
        return {}
    suggestions = suggester.suggest_many(pairs)
    predicted = [s.label for s in suggestions]
    report = classification_report(labels, predicted, output_dict=True, zero_division=0)
    per_category = {
        label: {k: round(float(v), 4) for k, v in values.items()}
        for label, values in report.items()
        if isinstance(values, dict) and label not in {"macro avg", "weighted avg"}
    }
    confidence = np.array([s.confidence for s in suggestions])
    correct = np.array([p == y for p, y in zip(predicted, labels, strict=True)], dtype=float)
    names = sorted(set(labels) | set(predicted))
    matrix = confusion_matrix(labels, predicted, labels=names)
    abstention = abstention_thresholds(suggestions, labels, target_precision)
    result: dict[str, Any] = {
        "accuracy": round(float(correct.mean()), 4),
        "macro_f1": round(float(f1_score(labels, predicted, average="macro", zero_division=0)), 4),
        "rows": len(labels),
        "ece": round(calibration_error(confidence, correct), 4),
        # Auto-triage coverage: the share answered at or above the confidence that is
        # right `target_precision` of the time.
        "auto_triage_share": abstention.get("answered_share", 0.0),
        "per_category": per_category,
        "confusion": {"labels": names, "matrix": matrix.tolist()},
        "abstention": abstention,
    }
    if blind is not None and any(blind):
        mask = np.array(blind, dtype=bool)
        result["blind"] = {"rows": int(mask.sum()), "accuracy": round(float(correct[mask].mean()), 4)}
    return result
