"""Fitting a candidate: an evaluation model on the older tickets, scored on the most
recent share (by time, not at random: production is the future), then the final
model on every ticket.

Plain Python and scikit-learn. The caller hands the tickets in, compares the
evaluation model with the live one (`compare`, called between the two fits, while
only the evaluation model is in memory) and registers what comes out
(triage/learning/training.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sklearn.base import clone
from sklearn.pipeline import Pipeline

from triage.ml.pipeline import build_pipeline
from triage.ml.scoring import SuggestsMany, score
from triage.ml.streaming_suggest import suggester_for

Progress = Callable[[str, float], None]


class NotEnoughDataError(Exception):
    """Too few confirmed tickets, or fewer than two categories, to train on."""


@dataclass
class TrainingData:
    ids: list[int]
    pairs: list[tuple[str, str]]
    labels: list[str]
    received: list[datetime]
    # Blind-slice tickets: labelled by agents who saw no suggestion (unbiased).
    blind: list[bool]

    def __len__(self) -> int:
        return len(self.ids)

    def digest(self) -> str:
        """A hash of the ticket ids and labels: which data trained a model."""
        h = hashlib.sha256()
        for ticket_id, label in zip(self.ids, self.labels, strict=True):
            h.update(f"{ticket_id}:{label}\n".encode())
        return h.hexdigest()


@dataclass
class Holdout:
    """The most recent tickets, held out of the evaluation model's training."""

    pairs: list[tuple[str, str]]
    labels: list[str]
    received: list[datetime]
    blind: list[bool]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: list[int]) -> Holdout:
        return Holdout(
            [self.pairs[i] for i in rows],
            [self.labels[i] for i in rows],
            [self.received[i] for i in rows],
            [self.blind[i] for i in rows],
        )


@dataclass
class Evaluation:
    """What a comparison with the live model needs, handed over between the two fits."""

    candidate: SuggestsMany  # the evaluation model: learned from the older tickets only
    metrics: dict[str, Any]  # its scores on the whole holdout
    holdout: Holdout
    train_rows: int  # how many older tickets it learned from
    # Fits another model's configuration on those same older tickets; None where
    # the data are too large to fit a second model.
    refit: Callable[[Pipeline], Pipeline] | None
    # Where the run's progress stands while the comparison runs.
    at: float


# (candidate's scores, live model's scores or None) on the tickets both were judged on.
Compare = Callable[[Evaluation], tuple[dict[str, Any], dict[str, Any] | None]]


@dataclass
class Fitted:
    """What a training path hands back: the final model and its scores."""

    pipeline: Any
    metrics: dict[str, Any]
    candidate_metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    lineage: dict[str, Any]


def fit_in_memory(
    data: TrainingData,
    *,
    params: dict[str, Any],
    share: float,
    target_precision: float,
    compare: Compare,
    report: Progress,
) -> Fitted:
    """The TF-IDF pipeline with every ticket in memory, fitted up to three times
    (evaluation, the live configuration refitted if `compare` asks, final)."""
    if len(data) < 10 or len(set(data.labels)) < 2:
        raise NotEnoughDataError(
            f"{len(data)} confirmed tickets in {len(set(data.labels))} categories: need at least 10 in 2"
        )
    n_holdout = int(len(data) * share)
    cut = len(data) - n_holdout
    train_pairs, train_labels = data.pairs[:cut], data.labels[:cut]

    metrics: dict[str, Any] = {}
    active_metrics: dict[str, Any] | None = None
    candidate_metrics: dict[str, Any] = {}
    if n_holdout and len(set(train_labels)) >= 2:
        report(f"fitting on {cut} tickets to score on the {n_holdout} most recent", 0.1)
        evaluation_model = build_pipeline(params).fit(train_pairs, train_labels)
        report("scoring the candidate and the live model on the holdout", 0.4)
        candidate = suggester_for(evaluation_model)
        holdout = Holdout(data.pairs[cut:], data.labels[cut:], data.received[cut:], data.blind[cut:])
        metrics = score(candidate, holdout.pairs, holdout.labels, holdout.blind, target_precision=target_precision)
        candidate_metrics, active_metrics = compare(
            Evaluation(
                candidate,
                metrics,
                holdout,
                train_rows=cut,
                refit=lambda other: clone(other).fit(train_pairs, train_labels),
                at=0.45,
            )
        )

    report(f"fitting the final model on all {len(data)} tickets", 0.55)
    pipeline = build_pipeline(params).fit(data.pairs, data.labels)
    lineage = {
        "training_rows": len(data),
        "holdout_rows": n_holdout,
        "data_from": data.received[0],
        "data_to": data.received[-1],
        "data_hash": data.digest(),
    }
    return Fitted(pipeline, metrics, candidate_metrics, active_metrics, lineage)
