"""Where a model is trained: read confirmed tickets, fit, score on a time holdout, register.

Training data are human-confirmed labels only (agents' decisions and imported
history), never the model's own unconfirmed guesses. The most recent share of
tickets is held out, by time not at random, because production is the future.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import platform
import random
import resource
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nltk
import numpy as np
import sklearn
from django.conf import settings
from sklearn.metrics import accuracy_score, classification_report, f1_score

from triage.ml.pipeline import DEFAULT_PARAMS, build_pipeline, model_params
from triage.ml.registry import (
    ArtifactRefusedError,
    model_version_activate,
    model_version_create,
    model_version_load,
)
from triage.ml.suggest import Suggester, Suggestion
from triage.models import ModelVersion, Ticket

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]


class NotEnoughDataError(Exception):
    """Too few confirmed tickets, or fewer than two categories, to train on."""


@dataclass
class TrainingData:
    ids: list[int]
    pairs: list[tuple[str, str]]
    labels: list[str]
    received: list[datetime]

    def __len__(self) -> int:
        return len(self.ids)

    def digest(self) -> str:
        """A hash of the ticket ids and labels: which data trained a model."""
        h = hashlib.sha256()
        for ticket_id, label in zip(self.ids, self.labels, strict=True):
            h.update(f"{ticket_id}:{label}\n".encode())
        return h.hexdigest()


@dataclass(frozen=True)
class TrainOutcome:
    version: ModelVersion
    activated: bool
    metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    reason: str


def training_data(chunk_size: int = 5000) -> TrainingData:
    """Confirmed tickets in active categories, oldest first, streamed in chunks."""
    rows = (
        Ticket.objects.filter(category__isnull=False, category__is_active=True)
        .order_by("received_at", "id")
        .values_list("id", "subject", "body", "category__slug", "received_at")
        .iterator(chunk_size=chunk_size)
    )
    data = TrainingData([], [], [], [])
    for ticket_id, subject, body, label, received in _shuffle_ties(rows):
        data.ids.append(ticket_id)
        data.pairs.append((subject, body))
        data.labels.append(label)
        data.received.append(received)
    return data


def _shuffle_ties(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows in time order; rows with the same time (a history imported without
    timestamps) in a seeded random order, so the time holdout does not become
    "the last categories of a file sorted by label"."""
    rng = random.Random(0)
    for _, group in itertools.groupby(rows, key=lambda row: row[4]):
        run = list(group)
        if len(run) > 1:
            rng.shuffle(run)
        yield from run


def abstention_thresholds(
    suggestions: list[Suggestion], labels: list[str], target_precision: float
) -> dict[str, float]:
    """Pick when the model should say "needs a human", on labelled validation tickets.

    min_confidence: the lowest confidence such that the tickets at or above it are
    right at least `target_precision` of the time (the largest such share).
    min_known_share: below the 1st percentile of the validation tickets' share of
    known words, a ticket looks like nothing the model was trained on.
    """
    if not suggestions:
        return {"target_precision": target_precision, "min_confidence": 0.0, "min_known_share": 0.0}
    confidence = np.array([s.confidence for s in suggestions])
    correct = np.array([s.label == y for s, y in zip(suggestions, labels, strict=True)], dtype=float)
    order = np.argsort(-confidence, kind="stable")
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    good = np.nonzero(precision >= target_precision)[0]
    # No prefix precise enough: answer nothing rather than miss the target.
    min_confidence = float(confidence[order][good[-1]]) if len(good) else 1.01
    known = np.array([s.known_share for s in suggestions])
    min_known_share = float(np.percentile(known, 1))
    answered = (confidence >= min_confidence) & (known >= min_known_share)
    return {
        "target_precision": target_precision,
        "min_confidence": round(min_confidence, 6),
        "min_known_share": round(min_known_share, 6),
        "answered_share": round(float(answered.mean()), 4),
        "answered_accuracy": round(float(correct[answered].mean()), 4) if answered.any() else 0.0,
    }


def score(suggester: Suggester, pairs: list[tuple[str, str]], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-category precision/recall/F1 and the abstention thresholds
    of a model on labelled tickets."""
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
    return {
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "macro_f1": round(float(f1_score(labels, predicted, average="macro", zero_division=0)), 4),
        "rows": len(labels),
        "per_category": per_category,
        "abstention": abstention_thresholds(suggestions, labels, settings.TARGET_PRECISION),
    }


def train_model(
    *,
    params: dict[str, Any] | None = None,
    holdout_share: float | None = None,
    activate: str = "always",
    min_macro_f1_margin: float = 0.0,
    user: Any = None,
    progress: Progress | None = None,
) -> TrainOutcome:
    """Train on confirmed tickets, score on the most recent share, register the version.

    activate: "always" makes the new version live; "if_not_worse" only when its
    macro-F1 on the same holdout is not below the live model's by more than the
    margin; "never" keeps it as a candidate.
    """
    report = progress or (lambda stage, fraction: None)
    started = time.perf_counter()
    share = settings.TRAIN_HOLDOUT_SHARE if holdout_share is None else holdout_share
    if not 0.0 <= share < 1.0:
        raise ValueError("holdout share must be in [0, 1)")
    params = {**DEFAULT_PARAMS, **(params or {})}

    report("loading confirmed tickets", 0.0)
    data = training_data()
    if len(data) < 10 or len(set(data.labels)) < 2:
        raise NotEnoughDataError(
            f"{len(data)} confirmed tickets in {len(set(data.labels))} categories: need at least 10 in 2"
        )
    n_holdout = int(len(data) * share)
    cut = len(data) - n_holdout
    train_pairs, train_labels = data.pairs[:cut], data.labels[:cut]
    hold_pairs, hold_labels = data.pairs[cut:], data.labels[cut:]

    metrics: dict[str, Any] = {}
    active_metrics: dict[str, Any] | None = None
    if n_holdout and len(set(train_labels)) >= 2:
        report(f"fitting on {cut} tickets to score on the {n_holdout} most recent", 0.1)
        evaluation_model = build_pipeline(params).fit(train_pairs, train_labels)
        report("scoring on the holdout", 0.45)
        metrics = score(Suggester(evaluation_model), hold_pairs, hold_labels)
        active_metrics = _score_active(hold_pairs, hold_labels)

    report(f"fitting the final model on all {len(data)} tickets", 0.55)
    pipeline = build_pipeline(params).fit(data.pairs, data.labels)
    report("saving the signed artifact", 0.9)
    version = model_version_create(
        pipeline=pipeline,
        classes=[str(c) for c in pipeline.classes_],
        params=model_params(pipeline),
        metrics={"holdout": metrics, "active_on_same_holdout": active_metrics},
        lineage={
            "training_rows": len(data),
            "holdout_rows": n_holdout,
            "data_from": data.received[0],
            "data_to": data.received[-1],
            "data_hash": data.digest(),
            "code_version": _git_commit(),
            "environment": _environment(),
            "train_seconds": round(time.perf_counter() - started, 2),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
    )
    activated, reason = _decide(activate, metrics, active_metrics, min_macro_f1_margin)
    if activated:
        model_version_activate(version=version, user=user)
    elif activate != "never":
        version.status = ModelVersion.Status.REJECTED
    version.notes = reason
    version.save(update_fields=["status", "notes"])
    report("done", 1.0)
    return TrainOutcome(version, activated, metrics, active_metrics, reason)


def _decide(mode: str, metrics: dict[str, Any], active: dict[str, Any] | None, margin: float) -> tuple[bool, str]:
    if mode == "always":
        return True, "activated on request"
    if mode == "never":
        return False, "kept as a candidate on request"
    if not active:
        return True, "no live model scored on this holdout: the new version goes live"
    if not metrics:
        return False, "no holdout to compare on: kept as a candidate"
    new, old = metrics["macro_f1"], active["macro_f1"]
    if new >= old - margin:
        return (
            True,
            f"macro-F1 {new:.4f} vs live {old:.4f}: not worse by more than {margin:.4f}",
        )
    return (
        False,
        f"macro-F1 {new:.4f} is below the live model's {old:.4f} by more than {margin:.4f}",
    )


def _score_active(pairs: list[tuple[str, str]], labels: list[str]) -> dict[str, Any] | None:
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is None:
        return None
    try:
        pipeline = model_version_load(active)
    except ArtifactRefusedError:
        logger.exception("the live model v%s could not be loaded to compare against", active.version)
        return None
    return {"version": active.version, **score(Suggester(pipeline), pairs, labels)}


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(settings.BASE_DIR),
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _environment() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "nltk": nltk.__version__,
    }
