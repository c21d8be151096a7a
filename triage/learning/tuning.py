"""Hyperparameter search, fanned out across Celery workers.

`tuning_start` expands the grid and sends one `tune_trial` task per combination
as a Celery group: one worker runs them in turn, more workers share them. Each
trial cross-validates its combination on the confirmed tickets that are not in
the time holdout, and records its score in the run under a row lock. The trial
that records the last score picks the best; the next training uses it.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import numpy as np
from celery import group, signature
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from sklearn.model_selection import StratifiedKFold, cross_val_score

from triage.learning import broadcast
from triage.learning.selectors import training_data
from triage.learning.services import RunHeartbeat, training_run_claim, training_run_fail
from triage.ml.pipeline import DEFAULT_PARAMS, build_pipeline
from triage.models import TrainingRun

logger = logging.getLogger(__name__)

# What the search varies: the subject weight, n-gram ranges, regularisation and the classifier.
DEFAULT_GRID: dict[str, list[Any]] = {
    "subject_weight": [1, 2],
    "word_ngram": [[1, 1], [1, 2]],
    "C": [0.25, 0.5, 1.0],
    "classifier": ["svc", "lr"],
}
CV_FOLDS = 3
# The Celery task that scores one combination (triage/tasks.py), sent by name.
TRIAL_TASK = "triage.tasks.tune_trial"


def grid_combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = sorted(grid)
    for key in keys:
        if key not in DEFAULT_PARAMS:
            raise ValueError(f"unknown hyperparameter {key!r}")
        if not isinstance(grid[key], list) or not grid[key]:
            raise ValueError(f"{key}: give a non-empty list of values")
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def tuning_start(*, run_id: int) -> None:
    run = training_run_claim(run_id=run_id)
    if run is None:
        return
    try:
        combos = grid_combinations(run.params.get("grid") or DEFAULT_GRID)
    except ValueError as exc:
        training_run_fail(run_id=run_id, error=str(exc))
        return
    TrainingRun.objects.filter(pk=run_id).update(
        results={"trials": [{"params": combo, "status": "queued"} for combo in combos]},
        stage=f"{len(combos)} combinations sent to the workers",
        heartbeat_at=timezone.now(),
    )
    broadcast.run_changed(run_id)
    group(signature(TRIAL_TASK, args=(run_id, index)) for index in range(len(combos))).apply_async()


def tuning_trial(*, run_id: int, index: int) -> None:
    run = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).first()
    if run is None:
        return
    combo = run.results["trials"][index]["params"]
    started = time.perf_counter()
    try:
        with RunHeartbeat(run_id):  # a trial can outlast TRAINING_STALE_SECONDS
            scores = _cross_validate(combo)
        outcome: dict[str, Any] = {
            "status": "done",
            "macro_f1": round(float(np.mean(scores)), 4),
            "std": round(float(np.std(scores)), 4),
        }
    except Exception as exc:
        logger.exception("tuning run #%s: combination %s failed", run_id, combo)
        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    outcome["seconds"] = round(time.perf_counter() - started, 1)
    _record(run_id, index, outcome)


def _cross_validate(combo: dict[str, Any]) -> np.ndarray:
    data = training_data()
    # Tune on what the time holdout leaves, so the gate's holdout stays unseen.
    cut = len(data) - int(len(data) * settings.TRAIN_HOLDOUT_SHARE)
    pairs, labels = data.pairs[:cut], data.labels[:cut]
    smallest = min(labels.count(label) for label in set(labels))
    folds = StratifiedKFold(n_splits=max(2, min(CV_FOLDS, smallest)), shuffle=True, random_state=0)
    params = {**DEFAULT_PARAMS, **combo}
    for key in ("word_ngram", "char_ngram"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return np.asarray(cross_val_score(build_pipeline(params), pairs, labels, cv=folds, scoring="f1_macro"))


def _record(run_id: int, index: int, outcome: dict[str, Any]) -> None:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status != TrainingRun.Status.RUNNING:
            return
        trials = run.results["trials"]
        trials[index].update(outcome)
        finished = [t for t in trials if t["status"] in {"done", "failed"}]
        run.progress = len(finished) / len(trials)
        run.heartbeat_at = timezone.now()
        run.stage = f"{len(finished)} of {len(trials)} combinations scored"
        if len(finished) == len(trials):
            done = [t for t in trials if t["status"] == "done"]
            run.finished_at = timezone.now()
            if done:
                best = max(done, key=lambda t: t["macro_f1"])
                run.results["best"] = {"params": best["params"], "macro_f1": best["macro_f1"]}
                run.status = TrainingRun.Status.SUCCEEDED
                run.stage = f"best macro-F1 {best['macro_f1']:.4f}: used by the next training"
            else:
                run.status = TrainingRun.Status.FAILED
                run.error = "every combination failed"
        run.save(update_fields=["results", "progress", "heartbeat_at", "stage", "status", "finished_at", "error"])
    broadcast.run_changed(run_id)
