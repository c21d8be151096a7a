"""Where a model is trained: read confirmed tickets, fit, score on a time holdout, register.

Training data are human-confirmed labels only (agents' decisions and imported
history), never the model's own unconfirmed guesses. The most recent share of
tickets is held out, by time not at random, because production is the future.
"""

from __future__ import annotations

import contextlib
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
from django.utils import timezone
from sklearn.base import clone

from triage.ml.gate import GateVerdict, gate_verdict
from triage.ml.pipeline import DEFAULT_PARAMS, build_pipeline, model_params
from triage.ml.registry import (
    ArtifactRefusedError,
    LiveModelChangedError,
    model_version_activate,
    model_version_create,
    model_version_load,
)
from triage.ml.scoring import one_target_precision, score
from triage.ml.streaming_suggest import StreamingSuggester, suggester_for
from triage.ml.suggest import Suggester
from triage.models import ModelPromotion, ModelVersion, Ticket

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


@dataclass(frozen=True)
class TrainOutcome:
    version: ModelVersion
    activated: bool
    metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    reason: str


@dataclass
class Fitted:
    """What a training path hands to the registry: the final model and its scores."""

    pipeline: Any
    metrics: dict[str, Any]
    candidate_metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    lineage: dict[str, Any]


def confirmed_tickets() -> Any:
    """Confirmed tickets in active categories (the training data's queryset).

    Tickets the model triaged itself (above a category's auto-triage threshold)
    are left out until an agent confirms them: it must not learn from its own guesses.
    """
    return Ticket.objects.filter(category__isnull=False, category__is_active=True).exclude(
        label_source=Ticket.LabelSource.AUTO
    )


def training_rows(chunk_size: int = 5000) -> Iterator[tuple[Any, ...]]:
    """(id, subject, body, label, received_at, blind) of confirmed tickets, oldest
    first, read in chunks (a server-side cursor on PostgreSQL)."""
    rows = (
        confirmed_tickets()
        .order_by("received_at", "id")
        .values_list("id", "subject", "body", "category__slug", "received_at", "blind")
        .iterator(chunk_size=chunk_size)
    )
    return _shuffle_ties(rows)


def training_data(chunk_size: int = 5000) -> TrainingData:
    """Confirmed tickets in active categories, oldest first, streamed in chunks."""
    data = TrainingData([], [], [], [], [])
    for ticket_id, subject, body, label, received, blind in training_rows(chunk_size):
        data.ids.append(ticket_id)
        data.pairs.append((subject, body))
        data.labels.append(label)
        data.received.append(received)
        data.blind.append(blind)
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


@one_target_precision()
def train_model(
    *,
    params: dict[str, Any] | None = None,
    holdout_share: float | None = None,
    activate: str = "always",
    user: Any = None,
    progress: Progress | None = None,
    still_wanted: Callable[[], bool] | None = None,
) -> TrainOutcome:
    """Train on confirmed tickets, score on the most recent share, register the version.

    activate: "always" makes the new version live; "gate" only when it passes the
    promotion gate against the live model on the same held-out tickets (gate.py),
    and then into shadow first when promotions require shadow-scored tickets;
    "never" keeps it as a candidate. A gated version that fails is kept as rejected.
    A gated version is kept as a candidate instead of going live when there were no
    held-out tickets to compare it with the live model on, or when another model
    went live while it trained. `still_wanted`, asked before any promotion, can
    cancel it (a training run marked failed meanwhile).
    """
    if activate not in {"always", "gate", "never"}:
        raise ValueError(f"activate must be always, gate or never, not {activate!r}")
    report = progress or (lambda stage, fraction: None)
    started = time.perf_counter()
    _reset_peak_memory()
    share = settings.TRAIN_HOLDOUT_SHARE if holdout_share is None else holdout_share
    if not 0.0 <= share < 1.0:
        raise ValueError("holdout share must be in [0, 1)")
    params = {**DEFAULT_PARAMS, **_settings_params(), **(params or {})}
    live_at_start = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()

    n_rows = confirmed_tickets().count()
    if n_rows >= settings.LARGE_TRAINING_ROWS:
        # Imported here: training_large imports this module (score, training_rows).
        from triage.ml.training_large import fit_large

        fitted = fit_large(params=params, share=share, n_rows=n_rows, report=report)
    else:
        fitted = _fit_in_memory(params=params, share=share, report=report)
    pipeline = fitted.pipeline
    report("saving the signed artifact", 0.9)
    # No held-out tickets to compare it with the live model on: neither promoted nor rejected.
    uncompared = live_at_start is not None and not fitted.candidate_metrics
    if uncompared:
        verdict = GateVerdict(False, ["no held-out tickets to compare it with the live model on: kept as a candidate"])
    elif live_at_start is not None and fitted.active_metrics is None:
        # Its artifact was refused (logged): it serves nothing, so it is replaced.
        verdict = GateVerdict(
            True,
            [f"the live model v{live_at_start.version} could not be loaded to compare with: the candidate replaces it"],
        )
    else:
        verdict = gate_verdict(
            fitted.candidate_metrics,
            fitted.active_metrics,
            max_macro_f1_drop=settings.GATE_MAX_MACRO_F1_DROP,
            max_recall_drop=settings.GATE_MAX_RECALL_DROP,
        )
    metrics, active_metrics = fitted.metrics, fitted.active_metrics
    version = model_version_create(
        pipeline=pipeline,
        classes=[str(c) for c in pipeline.classes_],
        params={"config": _jsonable_params(params), **model_params(pipeline)},
        metrics={
            "holdout": metrics,
            "candidate_on_comparison": fitted.candidate_metrics,
            "active_on_same_holdout": active_metrics,
            "gate": {"passed": verdict.passed, "reasons": verdict.reasons, "recall_drops": verdict.recall_drops},
        },
        lineage={
            **fitted.lineage,
            "code_version": _git_commit(),
            "environment": _environment(),
            "train_seconds": round(time.perf_counter() - started, 2),
            "peak_memory_mb": _peak_memory_mb(),
        },
    )
    activated, reason = False, "kept as a candidate on request"
    if activate != "never" and still_wanted is not None and not still_wanted():
        reason = "its training run was stopped (marked failed) before it finished: kept as a candidate"
    elif activate == "always":
        activated, reason = True, "activated on request"
        model_version_activate(version=version, user=user, action=ModelPromotion.Action.PROMOTE, reason=reason)
    elif activate == "gate" and not verdict.passed:
        if uncompared:
            reason = verdict.summary
        else:
            version.status = ModelVersion.Status.REJECTED
            reason = f"rejected by the gate: {verdict.summary}"
    elif activate == "gate" and active_metrics and settings.PROMOTION_MIN_SHADOW_TICKETS > 0:
        # One shadow at a time (as the models page's shadow action does): this one replaces it.
        ModelVersion.objects.exclude(pk=version.pk).filter(shadow_since__isnull=False).update(shadow_since=None)
        version.shadow_since = timezone.now()
        reason = (
            f"passed the gate ({verdict.summary}); in shadow until "
            f"{settings.PROMOTION_MIN_SHADOW_TICKETS} of its predictions are checked by agents"
        )
    elif activate == "gate":
        activated, reason = True, f"promoted by the gate: {verdict.summary}"
        try:
            model_version_activate(
                version=version,
                user=user,
                action=ModelPromotion.Action.GATE,
                reason=reason,
                expected_live=live_at_start,
            )
        except LiveModelChangedError as exc:
            activated, reason = False, f"passed the gate ({verdict.summary}), but {exc}: kept as a candidate"
    version.notes = reason
    version.save(update_fields=["status", "notes", "shadow_since"])
    report("done", 1.0)
    return TrainOutcome(version, activated, metrics, active_metrics, reason)


def _fit_in_memory(*, params: dict[str, Any], share: float, report: Progress) -> Fitted:
    """The TF-IDF pipeline: all confirmed tickets in memory, fitted up to three times."""
    report("loading confirmed tickets", 0.02)
    data = training_data()
    if len(data) < 10 or len(set(data.labels)) < 2:
        raise NotEnoughDataError(
            f"{len(data)} confirmed tickets in {len(set(data.labels))} categories: need at least 10 in 2"
        )
    n_holdout = int(len(data) * share)
    cut = len(data) - n_holdout
    train_pairs, train_labels = data.pairs[:cut], data.labels[:cut]
    hold_pairs, hold_labels, hold_blind = data.pairs[cut:], data.labels[cut:], data.blind[cut:]

    metrics: dict[str, Any] = {}
    active_metrics: dict[str, Any] | None = None
    candidate_metrics: dict[str, Any] = {}
    if n_holdout and len(set(train_labels)) >= 2:
        report(f"fitting on {cut} tickets to score on the {n_holdout} most recent", 0.1)
        evaluation_model = build_pipeline(params).fit(train_pairs, train_labels)
        report("scoring the candidate and the live model on the holdout", 0.4)
        candidate = suggester_for(evaluation_model)
        metrics = score(candidate, hold_pairs, hold_labels, hold_blind)
        candidate_metrics, active_metrics = _compare_with_live(
            candidate, metrics, data, cut, train_pairs, train_labels, report
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


def _compare_with_live(
    candidate: Suggester | StreamingSuggester,
    candidate_on_holdout: dict[str, Any],
    data: TrainingData,
    cut: int,
    train_pairs: list[tuple[str, str]],
    train_labels: list[str],
    report: Progress,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Score the candidate and the live model on the same tickets, fairly.

    The live model was trained on everything up to its own data_to, so part of
    today's holdout may be its training data. When enough held-out tickets are
    newer than that, both are scored on those (the live artifact as it serves).
    Otherwise the live model's configuration is refitted on the candidate's
    training tickets and both are scored on the whole holdout.
    """
    live = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if live is None:
        return candidate_on_holdout, None
    try:
        live_pipeline = model_version_load(live)
    except ArtifactRefusedError:
        logger.exception("the live model v%s could not be loaded to compare against", live.version)
        return candidate_on_holdout, None
    hold = range(cut, len(data))
    unseen = [i for i in hold if live.data_to is None or data.received[i] > live.data_to]
    if len(unseen) >= settings.GATE_MIN_UNSEEN_TICKETS:
        pairs = [data.pairs[i] for i in unseen]
        labels = [data.labels[i] for i in unseen]
        blind = [data.blind[i] for i in unseen]
        basis = f"the {len(unseen)} held-out tickets newer than the live model's training data"
        ours = score(candidate, pairs, labels, blind)
        # As it serves: after a merge, its merged-away class answers as the survivor the
        # tickets were relabelled to, instead of counting wrong on every one of them.
        from triage.serving import as_served

        theirs = score(as_served(live, suggester_for(live_pipeline)), pairs, labels, blind)
    else:
        report("refitting the live model's configuration on the same training tickets", 0.45)
        refit = clone(live_pipeline).fit(train_pairs, train_labels)
        basis = (
            f"the whole holdout, with the live model's configuration refitted on the same "
            f"{len(train_labels)} training tickets (only {len(unseen)} held-out tickets are newer than its data)"
        )
        ours = candidate_on_holdout
        theirs = score(suggester_for(refit), data.pairs[cut:], data.labels[cut:], data.blind[cut:])
    return {**ours, "basis": basis}, {"version": live.version, "basis": basis, **theirs}


def _settings_params() -> dict[str, Any]:
    """Pipeline choices made by settings: the optional sentence encoder
    (ASSIST_MODEL_ENCODER) and word pairs (ASSIST_MODEL_WORD_PAIRS)."""
    params: dict[str, Any] = {}
    if settings.MODEL_ENCODER:
        params.update(encoder=settings.MODEL_ENCODER, encoder_weight=settings.MODEL_ENCODER_WEIGHT)
    if settings.MODEL_WORD_PAIRS:
        params["word_pairs"] = settings.MODEL_WORD_PAIRS
    return params


def _jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in params.items()}


def _reset_peak_memory() -> None:
    """Reset the kernel's peak-RSS mark, so the peak we record is this training's
    and not the worker's lifetime high (Linux; elsewhere the lifetime peak stands)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_memory_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


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
