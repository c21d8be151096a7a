"""Training on more confirmed tickets than fit in memory as text: one streamed pass.

`train_model` switches here from `settings.LARGE_TRAINING_ROWS` tickets on. The
tickets are read oldest first in chunks of `settings.LARGE_TRAINING_CHUNK_ROWS`
(a server-side cursor on PostgreSQL); each chunk is hashed into features,
learned from with `partial_fit`, and dropped. Only the held-out tickets (the
most recent share) are kept as text, to be scored.

One model is trained, not three. When the stream reaches the holdout, a copy
of the model so far is the evaluation model: it has learned from exactly the
older tickets, like the in-memory path's evaluation model. The same model then
keeps learning from the held-out tickets and becomes the final one. Every
`calibration_every`-th ticket is set aside, never learned from, and fits the
softmax temperature (of the evaluation model on the older ones, of the final
model on all of them).

Fair gate: the live model is scored as it serves, on the held-out tickets newer
than its training data when there are at least `GATE_MIN_UNSEEN_TICKETS` of
them, otherwise on the whole holdout (then it may have been trained on some of
those tickets, which can only favour it). Its configuration is not refitted at
this size: that would be a second training.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.conf import settings
from django.db.models import Exists, OuterRef

from triage.ml.registry import ArtifactRefusedError, model_version_load
from triage.ml.scoring import score
from triage.ml.streaming import build_streaming_pipeline, snapshot
from triage.ml.streaming_suggest import StreamingSuggester, suggester_for
from triage.ml.training import Fitted, NotEnoughDataError, Progress, confirmed_tickets, training_rows
from triage.models import Category, ModelVersion

logger = logging.getLogger(__name__)


@dataclass
class _Holdout:
    pairs: list[tuple[str, str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    received: list[datetime] = field(default_factory=list)
    blind: list[bool] = field(default_factory=list)


def fit_large(*, params: dict[str, Any], share: float, n_rows: int, report: Progress) -> Fitted:
    """Stream the confirmed tickets once; return the final model and the holdout scores."""
    classes = sorted(
        Category.objects.filter(is_active=True)
        .filter(Exists(confirmed_tickets().filter(category=OuterRef("pk"))))
        .values_list("slug", flat=True)
    )
    if n_rows < 10 or len(classes) < 2:
        raise NotEnoughDataError(f"{n_rows} confirmed tickets in {len(classes)} categories: need at least 10 in 2")
    cut = n_rows - int(n_rows * share)
    pipeline = build_streaming_pipeline(params)
    features, clf = pipeline.steps[0][1], pipeline.steps[1][1]
    every = max(int(clf.calibration_every), 2)
    aside_x: list[sp.csr_matrix] = []
    aside_y: list[np.ndarray] = []
    evaluation, reached_cut = None, False
    hold = _Holdout()
    digest = hashlib.sha256()
    seen, first, last = 0, None, None
    chunk_rows = settings.LARGE_TRAINING_CHUNK_ROWS
    report(f"learning from {n_rows} tickets, {chunk_rows} at a time", 0.02)
    rows = training_rows(chunk_size=chunk_rows)
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
        metrics = score(candidate, hold.pairs, hold.labels, hold.blind)
        del evaluation
        candidate_metrics, active_metrics = _compare_with_live(candidate, metrics, hold, report)
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


def _compare_with_live(
    candidate: StreamingSuggester,
    candidate_on_holdout: dict[str, Any],
    hold: _Holdout,
    report: Progress,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Score the candidate and the live model as it serves, on the same held-out tickets."""
    live = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if live is None:
        return candidate_on_holdout, None
    try:
        loaded = suggester_for(model_version_load(live))
    except ArtifactRefusedError:
        logger.exception("the live model v%s could not be loaded to compare against", live.version)
        return candidate_on_holdout, None
    report("scoring the live model on the same held-out tickets", 0.8)
    # As it serves under today's taxonomy: a class merged away answers as its survivor.
    from triage.serving import as_served

    live_suggester = as_served(live, loaded)
    unseen = [i for i, received in enumerate(hold.received) if live.data_to is None or received > live.data_to]
    if len(unseen) >= settings.GATE_MIN_UNSEEN_TICKETS:
        pairs = [hold.pairs[i] for i in unseen]
        labels = [hold.labels[i] for i in unseen]
        blind = [hold.blind[i] for i in unseen]
        basis = f"the {len(unseen)} held-out tickets newer than the live model's training data"
        ours = score(candidate, pairs, labels, blind)
        theirs = score(live_suggester, pairs, labels, blind)
    else:
        basis = (
            f"the whole holdout ({len(hold.labels)} tickets), the live model scored as it serves: only "
            f"{len(unseen)} are newer than its training data, so it may have learned from the others "
            "(not refitted at this size)"
        )
        ours = candidate_on_holdout
        theirs = score(live_suggester, hold.pairs, hold.labels, hold.blind)
    return {**ours, "basis": basis}, {"version": live.version, "basis": basis, **theirs}
