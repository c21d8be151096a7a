"""Where a model is trained: read confirmed tickets, fit, compare with the live model on
the same tickets, judge, register, and settle what the new version becomes.

Training data are human-confirmed labels only (agents' decisions and imported
history), never the model's own unconfirmed guesses. The fitting itself is
triage/ml (training.py in memory, training_large.py streamed).
"""

from __future__ import annotations

import contextlib
import logging
import platform
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import nltk
import numpy as np
import sklearn
from django.conf import settings

from triage.learning.gate import GateVerdict, gate_verdict
from triage.learning.promotion import ACTIVATE_CHOICES, candidate_settle
from triage.learning.registry import ArtifactRefusedError, model_version_create, model_version_load
from triage.learning.scores import CANDIDATE, GATE, HOLDOUT, LIVE
from triage.learning.selectors import (
    confirmed_tickets,
    target_precision,
    training_classes,
    training_data,
    training_rows,
)
from triage.ml.pipeline import DEFAULT_PARAMS, model_params
from triage.ml.scoring import SuggestsMany, score
from triage.ml.streaming_suggest import suggester_for
from triage.ml.training import Evaluation, Fitted, Holdout, Progress, fit_in_memory
from triage.ml.training_large import fit_streamed
from triage.models import ModelVersion
from triage.serving import as_served

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOutcome:
    version: ModelVersion
    activated: bool
    metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    reason: str


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
    promotion gate against the live model on the same held-out tickets (gate.py);
    "never" keeps it as a candidate (promotion.candidate_settle says what happens
    to it). `still_wanted`, asked before any promotion, can cancel it (a training
    run marked failed meanwhile).
    """
    if activate not in ACTIVATE_CHOICES:
        raise ValueError(f"activate must be always, gate or never, not {activate!r}")
    report = progress or (lambda stage, fraction: None)
    started = time.perf_counter()
    _reset_peak_memory()
    share = settings.TRAIN_HOLDOUT_SHARE if holdout_share is None else holdout_share
    if not 0.0 <= share < 1.0:
        raise ValueError("holdout share must be in [0, 1)")
    params = {**DEFAULT_PARAMS, **_settings_params(), **(params or {})}
    # Read once: the candidate's thresholds and both sides of the gate are scored for
    # the same target, whatever an admin saves while the model trains.
    target = target_precision()
    live_at_start = ModelVersion.objects.live()
    compare = partial(_compare_with_live, target_precision=target, report=report)

    n_rows = confirmed_tickets().count()
    if n_rows >= settings.LARGE_TRAINING_ROWS:
        chunk_rows = settings.LARGE_TRAINING_CHUNK_ROWS
        fitted = fit_streamed(
            training_rows(chunk_size=chunk_rows),
            n_rows=n_rows,
            classes=training_classes(),
            chunk_rows=chunk_rows,
            params=params,
            share=share,
            target_precision=target,
            compare=compare,
            report=report,
        )
    else:
        report("loading confirmed tickets", 0.02)
        fitted = fit_in_memory(
            training_data(), params=params, share=share, target_precision=target, compare=compare, report=report
        )
    pipeline = fitted.pipeline
    report("saving the signed artifact", 0.9)
    verdict = _judge(fitted, live_at_start)
    version = model_version_create(
        pipeline=pipeline,
        classes=[str(c) for c in pipeline.classes_],
        params={"config": _jsonable_params(params), **model_params(pipeline)},
        metrics={
            HOLDOUT: fitted.metrics,
            CANDIDATE: fitted.candidate_metrics,
            LIVE: fitted.active_metrics,
            GATE: {"passed": verdict.passed, "reasons": verdict.reasons, "recall_drops": verdict.recall_drops},
        },
        lineage={
            **fitted.lineage,
            "code_version": _git_commit(),
            "environment": _environment(),
            "train_seconds": round(time.perf_counter() - started, 2),
            "peak_memory_mb": _peak_memory_mb(),
        },
    )
    activated, reason = candidate_settle(
        version=version,
        verdict=verdict,
        activate=activate,
        live_at_start=live_at_start,
        live_scored=bool(fitted.active_metrics),
        user=user,
        still_wanted=activate == "never" or still_wanted is None or bool(still_wanted()),
    )
    report("done", 1.0)
    return TrainOutcome(version, activated, fitted.metrics, fitted.active_metrics, reason)


def _judge(fitted: Fitted, live_at_start: ModelVersion | None) -> GateVerdict:
    """The gate's verdict on the candidate against the model live when training started."""
    if live_at_start is not None and not fitted.candidate_metrics:
        return GateVerdict(
            False, ["no held-out tickets to compare it with the live model on: kept as a candidate"], judged=False
        )
    if live_at_start is not None and fitted.active_metrics is None:
        # Its artifact was refused (logged): it serves nothing, so it is replaced.
        return GateVerdict(
            True,
            [f"the live model v{live_at_start.version} could not be loaded to compare with: the candidate replaces it"],
        )
    return gate_verdict(
        fitted.candidate_metrics,
        fitted.active_metrics,
        max_macro_f1_drop=settings.GATE_MAX_MACRO_F1_DROP,
        max_recall_drop=settings.GATE_MAX_RECALL_DROP,
    )


def _compare_with_live(
    evaluation: Evaluation, *, target_precision: float, report: Progress
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Score the candidate and the live model on the same tickets, fairly.

    The live model was trained on everything up to its own data_to, so part of
    today's holdout may be its training data. When enough held-out tickets are
    newer than that, both are scored on those, the live model as it serves under
    today's taxonomy (a class merged away answers as its survivor). Otherwise both
    are scored on the whole holdout: the live model's configuration refitted on the
    candidate's training tickets where the data allow a second fit, else the live
    model as it serves (it may then have learned from some of those tickets, which
    can only favour it).
    """
    candidate, hold = evaluation.candidate, evaluation.holdout
    live = ModelVersion.objects.live()
    if live is None:
        return evaluation.metrics, None
    try:
        live_pipeline = model_version_load(live)
    except ArtifactRefusedError:
        logger.exception("the live model v%s could not be loaded to compare against", live.version)
        return evaluation.metrics, None

    def scored(suggester: SuggestsMany, tickets: Holdout) -> dict[str, Any]:
        return score(suggester, tickets.pairs, tickets.labels, tickets.blind, target_precision=target_precision)

    unseen = [i for i, received in enumerate(hold.received) if live.data_to is None or received > live.data_to]
    if len(unseen) >= settings.GATE_MIN_UNSEEN_TICKETS:
        report("scoring the live model on the same held-out tickets", evaluation.at)
        same = hold.subset(unseen)
        basis = f"the {len(unseen)} held-out tickets newer than the live model's training data"
        ours = scored(candidate, same)
        theirs = scored(as_served(live, suggester_for(live_pipeline)), same)
    elif evaluation.refit is not None:
        report("refitting the live model's configuration on the same training tickets", evaluation.at)
        basis = (
            f"the whole holdout, with the live model's configuration refitted on the same "
            f"{evaluation.train_rows} training tickets (only {len(unseen)} held-out tickets are newer than its data)"
        )
        ours = evaluation.metrics
        theirs = scored(suggester_for(evaluation.refit(live_pipeline)), hold)
    else:
        report("scoring the live model on the same held-out tickets", evaluation.at)
        basis = (
            f"the whole holdout ({len(hold)} tickets), the live model scored as it serves: only "
            f"{len(unseen)} are newer than its training data, so it may have learned from the others "
            "(not refitted at this size)"
        )
        ours = evaluation.metrics
        theirs = scored(as_served(live, suggester_for(live_pipeline)), hold)
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
