"""Training on more confirmed tickets than fit in memory as text: one streamed pass.

`triage.learning.training.train_model` switches here from ASSIST_LARGE_TRAINING_ROWS
tickets on. The rows come oldest first, in chunks of `chunk_rows`; each chunk is
hashed into features, learned from with `partial_fit`, and dropped. Only the
held-out tickets (the most recent share) are kept as text, to be scored.

One model is trained, not three. When the stream reaches the holdout, a copy
of the model so far is the evaluation model: it has learned from exactly the
older tickets, like the in-memory path's evaluation model. The same model then
keeps learning from the held-out tickets and becomes the final one. Every
`calibration_every`-th ticket is set aside, never learned from, and fits the
softmax temperature (of the evaluation model on the older ones, of the final
model on all of them).

The comparison with the live model (`compare`) gets no `refit` here: fitting the
live model's configuration again would be a second training at this size.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from triage.ml.scoring import score
from triage.ml.streaming import build_streaming_pipeline, snapshot
from triage.ml.streaming_suggest import StreamingSuggester
from triage.ml.training import Compare, Evaluation, Fitted, Holdout, NotEnoughDataError, Progress

# A row: (ticket id, subject, body, label, received at, blind), oldest first.
Row = tuple[Any, ...]


def fit_streamed(
    rows: Iterator[Row],
    *,
    n_rows: int,
    classes: list[str],
    chunk_rows: int,
    params: dict[str, Any],
    share: float,
    target_precision: float,
    compare: Compare,
    report: Progress,
) -> Fitted:
    """Learn from the rows in one pass; return the final model and the holdout scores."""
    if n_rows < 10 or len(classes) < 2:
        raise NotEnoughDataError(f"{n_rows} confirmed tickets in {len(classes)} categories: need at least 10 in 2")
    cut = n_rows - int(n_rows * share)
    pipeline = build_streaming_pipeline(params)
    features, clf = pipeline.steps[0][1], pipeline.steps[1][1]
    every = max(int(clf.calibration_every), 2)
    aside_x: list[sp.csr_matrix] = []
    aside_y: list[np.ndarray] = []
    evaluation, reached_cut = None, False
    hold = Holdout([], [], [], [])
    digest = hashlib.sha256()
    seen, first, last = 0, None, None
    report(f"learning from {n_rows} tickets, {chunk_rows} at a time", 0.02)
    while chunk := list(itertools.islice(rows, chunk_rows)):
        first = first or chunk[0][4]
        last = chunk[-1][4]
        for ticket_id, _, _, label, _, _ in chunk:
            digest.update(f"{ticket_id}:{label}\n".encode())
        # Split a chunk that straddles the cut, so the evaluation model is
        # snapshotted after the last older ticket and before the first held-out one.
        boundary = min(max(cut - seen, 0), len(chunk))
        for part, held_out in ((chunk[:boundary], False), (chunk[boundary:], True)):
            if not part:
                continue
            if held_out and not reached_cut:
                reached_cut = True
                if hasattr(clf, "sgd_"):
                    evaluation = _evaluation_model(pipeline, aside_x, aside_y)
            if held_out:
                for _, subject, body, label, received, blind in part:
                    hold.pairs.append((subject, body))
                    hold.labels.append(label)
                    hold.received.append(received)
                    hold.blind.append(blind)
            X = features.partial_fit_transform([(row[1], row[2]) for row in part])
            y = np.array([row[3] for row in part], dtype=object)
            aside = (seen + np.arange(len(part))) % every == 0
            aside_x.append(X[aside])
            aside_y.append(y[aside])
            if (~aside).any():
                clf.partial_fit(X[~aside], y[~aside], classes=classes)
            seen += len(part)
        report(f"learned from {seen} of {n_rows} tickets", 0.02 + 0.68 * min(seen / n_rows, 1.0))
    if not hasattr(clf, "sgd_"):
        raise NotEnoughDataError(f"{seen} confirmed tickets: too few to learn from")

    metrics: dict[str, Any] = {}
    candidate_metrics: dict[str, Any] = {}
    active_metrics: dict[str, Any] | None = None
    if evaluation is not None and hold.labels:
        report(f"scoring the evaluation model on the {len(hold.labels)} most recent tickets", 0.72)
        candidate = StreamingSuggester(evaluation)
        metrics = score(candidate, hold.pairs, hold.labels, hold.blind, target_precision=target_precision)
        del evaluation
        candidate_metrics, active_metrics = compare(
            Evaluation(candidate, metrics, hold, train_rows=cut, refit=None, at=0.8)
        )
    report("calibrating the final model", 0.88)
    clf.calibrate(sp.vstack(aside_x, format="csr"), np.concatenate(aside_y))
    lineage = {
        "training_rows": seen,
        "holdout_rows": len(hold.labels),
        "data_from": first,
        "data_to": last,
        "data_hash": digest.hexdigest(),
    }
    return Fitted(pipeline, metrics, candidate_metrics, active_metrics, lineage)


def _evaluation_model(pipeline: Any, aside_x: list[sp.csr_matrix], aside_y: list[np.ndarray]) -> Any:
    """A copy of the model as it is now, calibrated on the tickets set aside so far."""
    model = snapshot(pipeline)
    model.steps[1][1].calibrate(sp.vstack(aside_x, format="csr"), np.concatenate(aside_y))
    return model
