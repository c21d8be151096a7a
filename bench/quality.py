"""Cross-validated quality/latency benchmark of the Assist pipeline on Banking77.

Usage:
    python bench/quality.py [--data PATH] [--folds 5] [--quick] [--jobs 2]
    python bench/quality.py --encoder minilm      # the optional encoder stack
    python bench/quality.py --variants [--only NAME ...] [--folds 3]

Default run: k-fold stratified CV of build_pipeline(DEFAULT_PARAMS) (accuracy,
macro-F1, top-label ECE), training time on all rows, single-ticket
Suggester.suggest() latency, and an abstention trade-off table.
``--encoder minilm`` does the same with the sentence-encoder block added
(needs ``make install-encoder``). ``--variants`` runs the ablations behind
DEFAULT_PARAMS (docs/model.md); encoder rows are skipped when it is missing.
No Django needed: the repo root is put on sys.path.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from triage.ml.artifacts import dumps  # noqa: E402
from triage.ml.encoder import ENCODERS, EncoderUnavailableError, encoder_model_dir, get_encoder  # noqa: E402
from triage.ml.language import detect_language, detect_prefix  # noqa: E402
from triage.ml.pipeline import DEFAULT_PARAMS, build_pipeline  # noqa: E402
from triage.ml.suggest import Suggester  # noqa: E402

DEFAULT_DATA = Path("/work/shared/data/banking77/train.csv")
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)

# A short English stop list for the ablation only. Negations and question
# words are deliberately absent: they carry intent ("why", "not", "how").
STOP_WORDS = [
    *("a", "an", "the", "i", "me", "my", "we", "our", "you", "your", "it", "its"),
    *("is", "am", "are", "was", "were", "be", "been", "to", "of", "in", "on", "at"),
    *("for", "with", "and", "or", "this", "that", "there", "do", "does", "did"),
    *("have", "has", "had", "so", "as"),
]

# (name, params overriding DEFAULT_PARAMS). The first row is the reference. "calibration"
# is this benchmark's own key (see bench_pipeline): the product calibrates by temperature.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("default", {}),
    # calibration / classifier (all on the default features)
    ("LinearSVC + sigmoid (Platt, OvR)", {"classifier": "svc", "calibration": "sigmoid"}),
    ("LinearSVC + isotonic", {"classifier": "svc", "calibration": "isotonic"}),
    ("LinearSVC + temperature", {"classifier": "svc", "calibration": "temperature"}),
    ("LinearSVC C=1 + temperature", {"classifier": "svc", "C": 1.0, "calibration": "temperature"}),
    ("LinearSVC C=0.25 + temperature", {"classifier": "svc", "C": 0.25, "calibration": "temperature"}),
    ("LR C=30, own probabilities", {"classifier": "lr", "C": 30.0, "calibration": None}),
    ("LR C=30 + temperature", {"classifier": "lr", "C": 30.0, "calibration": "temperature"}),
    ("SGD modified_huber + temperature", {"classifier": "sgd", "C": 1.0, "calibration": "temperature"}),
    ("class_weight=balanced", {"class_weight": "balanced"}),
    # features
    ("word 1-2 only, no stemming", {"char": False, "stem": False}),
    ("word 1-2 only (stemmed)", {"char": False}),
    ("char_wb 2-5 only", {"word_weight": 0.0}),
    ("word+char, no stemming", {"stem": False}),
    ("word pairs, window 6 (ASSIST_MODEL_WORD_PAIRS=6)", {"word_pairs": 6}),
    ("word pairs, window 6, min_df 3", {"word_pairs": 6, "pairs_min_df": 3}),
    ("word pairs, window 6, weight 0.7", {"word_pairs": 6, "pairs_weight": 0.7}),
    ("word pairs, window 10", {"word_pairs": 10}),
    ("stop words removed", {"stop_words": STOP_WORDS}),
    ("word 1-3", {"word_ngram": (1, 3)}),
    ("char_wb 1-5", {"char_ngram": (1, 5)}),
    ("char_wb 2-6", {"char_ngram": (2, 6)}),
    ("char min_df=1", {"char_min_df": 1}),
    ("no sublinear_tf", {"sublinear_tf": False}),
    # languages: per-ticket detection must not cost English accuracy
    ("language=english (no detection)", {"language": "english"}),
    # optional sentence-encoder block (make install-encoder)
    ("+ MiniLM embeddings, weight 1", {"encoder": "minilm", "encoder_weight": 1.0}),
    ("+ MiniLM embeddings, weight 2", {"encoder": "minilm", "encoder_weight": 2.0}),
    ("+ MiniLM embeddings, weight 2, C=1", {"encoder": "minilm", "encoder_weight": 2.0, "C": 1.0}),
    ("MiniLM embeddings only (LinearSVC C=1)", {"encoder": "minilm", "word_weight": 0.0, "char": False, "C": 1.0}),
]

# Best encoder-stack settings found by --variants (docs/model.md).
ENCODER_PARAMS: dict[str, Any] = {"encoder_weight": 2.0}


def encoder_available() -> bool:
    """Whether the optional encoder packages are installed."""
    try:
        encoder_model_dir("minilm")
    except EncoderUnavailableError:
        return False
    return True


def load(path: Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Read ``text,category`` rows into (subject="", body) pairs and labels."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [("", r["text"]) for r in rows], np.array([r["category"] for r in rows])


def ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """Top-label expected calibration error with equal-width bins."""
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def bench_pipeline(params: dict[str, Any]) -> Pipeline:
    """The product's pipeline, or with "calibration" "sigmoid" (Platt, one-vs-rest) or
    "isotonic" the same features and classifier calibrated by scikit-learn's
    CalibratedClassifierCV instead of the temperature; None: the classifier's own
    probabilities (LogisticRegression)."""
    params = dict(params)
    calibration = params.pop("calibration", "temperature")
    pipe = build_pipeline(params)
    if calibration == "temperature":
        return pipe
    base = clone(pipe.named_steps["clf"].estimator)
    if calibration is None:
        return pipe.set_params(clf=base)
    folds = StratifiedKFold(pipe.named_steps["clf"].cv, shuffle=True, random_state=params.get("random_state", 0))
    return pipe.set_params(clf=CalibratedClassifierCV(base, method=calibration, cv=folds))


def _fold(params: dict[str, Any], X: list, y: np.ndarray, train: Any, test: Any) -> dict:
    pipe = bench_pipeline(params)
    start = time.perf_counter()
    pipe.fit([X[i] for i in train], y[train])
    fit_s = time.perf_counter() - start
    proba = pipe.predict_proba([X[i] for i in test])
    pred = pipe.classes_[proba.argmax(axis=1)]
    return {"test": test, "conf": proba.max(axis=1), "pred": pred, "fit_s": fit_s}


def cross_validate(params: dict[str, Any], X: list, y: np.ndarray, folds: int, jobs: int) -> dict[str, Any]:
    """Per-fold accuracy / macro-F1 / ECE and out-of-fold confidences."""
    splits = StratifiedKFold(folds, shuffle=True, random_state=42).split(X, y)
    results = Parallel(n_jobs=jobs)(delayed(_fold)(params, X, y, tr, te) for tr, te in splits)
    conf = np.empty(len(y))
    correct = np.empty(len(y), dtype=bool)
    acc, f1, eces = [], [], []
    for r in results:
        ok = r["pred"] == y[r["test"]]
        conf[r["test"]], correct[r["test"]] = r["conf"], ok
        acc.append(ok.mean())
        f1.append(f1_score(y[r["test"]], r["pred"], average="macro"))
        eces.append(ece(r["conf"], ok))
    return {
        "acc": acc,
        "f1": f1,
        "ece": eces,
        "fit_s": [r["fit_s"] for r in results],
        "conf": conf,
        "correct": correct,
    }


def _ms(p: float) -> str:
    return f"{p * 1000:.2f}"


def _forget_text_memos(sugg: Suggester) -> None:
    detect_prefix.cache_clear()
    if any(name == "encoder" for name, _ in sugg.pipeline[1].transformer_list):
        get_encoder(sugg.pipeline[1].get_params()["encoder"].encoder).clear_cache()


def latency(sugg: Suggester, X: list, n: int, explain: bool) -> tuple[float, float, float, float]:
    """p50/p99 seconds of single suggest() calls (after a warm-up): wall clock, then CPU.

    CPU time (this thread's) is what the call costs; on a shared machine the
    wall clock also counts the time other processes hold the core.
    """
    # Training filled the per-process memos (language of each text, sentence
    # embeddings); a live ticket is new text, so warm up and time without them.
    # Warm up on other tickets, as a server that has been taking traffic: the
    # Suggester's per-word memo of char n-grams then knows the common words, and
    # the encoder has run its forward pass (a runtime's first calls are slower).
    _forget_text_memos(sugg)
    for s, b in X[-2000:]:
        sugg.suggest(s, b, explain=explain)
    _forget_text_memos(sugg)
    wall, cpu = [], []
    for s, b in X[:n]:
        start, start_cpu = time.perf_counter(), time.thread_time()
        sugg.suggest(s, b, explain=explain)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return (
        float(np.percentile(wall, 50)),
        float(np.percentile(wall, 99)),
        float(np.percentile(cpu, 50)),
        float(np.percentile(cpu, 99)),
    )


def detection_latency(X: list, n: int) -> tuple[float, float, float, float]:
    """p50/p99 seconds of detect_language on new (uncached) texts: wall, then CPU."""
    for _, b in X[-50:]:
        detect_language(b)
    detect_prefix.cache_clear()
    wall, cpu = [], []
    for _, b in X[:n]:
        start, start_cpu = time.perf_counter(), time.thread_time()
        detect_language(b)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return (
        float(np.percentile(wall, 50)),
        float(np.percentile(wall, 99)),
        float(np.percentile(cpu, 50)),
        float(np.percentile(cpu, 99)),
    )


def run_default(
    params: dict[str, Any], X: list, y: np.ndarray, folds: int, jobs: int, n_calls: int, cv_too: bool = True
) -> None:
    """The main report for DEFAULT_PARAMS."""
    print(f"Banking77: {len(y)} rows, {len(set(y))} classes; {folds}-fold stratified CV")
    print(f"params: {params}\n")
    if cv_too:
        run_cv(params, X, y, folds, jobs)
    pipe = build_pipeline(params)
    start = time.perf_counter()
    pipe.fit(X, y)
    print(f"{'training time, all rows (s)':28s} {time.perf_counter() - start:.1f}")
    print(f"{'artifact size (MB)':28s} {len(dumps(pipe)) / 1e6:.1f}")

    sugg = Suggester(pipe)
    order = np.random.default_rng(0).permutation(len(X))
    calls = [X[i] for i in order]
    print(f"suggest() latency over {n_calls} calls (wall clock | CPU time of the call):")
    rows = [("with reasons", latency(sugg, calls, n_calls, explain=True))]
    rows.append(("without reasons", latency(sugg, calls, n_calls, explain=False)))
    if params["language"] == "auto":
        rows.append(("language detection alone", detection_latency(calls, n_calls)))
    for label, (p50, p99, c50, c99) in rows:
        print(f"  {label:26s} p50 {_ms(p50)} ms, p99 {_ms(p99)} ms | p50 {_ms(c50)} ms, p99 {_ms(c99)} ms")
    start = time.perf_counter()
    for s, b in calls[:100]:
        pipe.predict_proba([(s, b)])
    print(f"  (pipeline.predict_proba, 1 row: {_ms((time.perf_counter() - start) / 100)} ms mean)")
    print(f"  (load average now: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores)")


def run_cv(params: dict[str, Any], X: list, y: np.ndarray, folds: int, jobs: int) -> None:
    """CV metrics and the abstention table."""
    cv = cross_validate(params, X, y, folds, jobs)
    for key, label in (
        ("acc", "accuracy"),
        ("f1", "macro-F1"),
        ("ece", "ECE (top-label, 15 bins)"),
    ):
        vals = cv[key]
        print(f"{label:28s} {statistics.mean(vals):.4f} ± {statistics.pstdev(vals):.4f}")
    print(f"{'fit time per fold (s)':28s} {statistics.mean(cv['fit_s']):.1f} (jobs={jobs})")
    print("\nAbstention trade-off (out-of-fold):")
    print("| threshold | answered | accuracy on answered |")
    print("|---:|---:|---:|")
    for t in THRESHOLDS:
        mask = cv["conf"] >= t
        acc = cv["correct"][mask].mean() if mask.any() else float("nan")
        print(f"| {t:.2f} | {mask.mean():.1%} | {acc:.2%} |")


def run_variants(X: list, y: np.ndarray, folds: int, jobs: int, only: Sequence[str] | None) -> None:
    """CV every ablation and print a markdown table."""
    print(f"{folds}-fold CV, mean over folds; fit time is per fold with jobs={jobs}\n")
    print("| variant | accuracy | macro-F1 | ECE | fit s/fold |")
    print("|---|---:|---:|---:|---:|")
    has_encoder = encoder_available()
    for name, override in VARIANTS:
        if only and not any(o.lower() in name.lower() for o in only):
            continue
        if override.get("encoder") and not has_encoder:
            print(f"| {name} | (skipped: the encoder is not installed: make install-encoder) | | | |")
            continue
        cv = cross_validate({**DEFAULT_PARAMS, **override}, X, y, folds, jobs)
        print(
            f"| {name} | {statistics.mean(cv['acc']):.4f} | {statistics.mean(cv['f1']):.4f} "
            f"| {statistics.mean(cv['ece']):.4f} | {statistics.mean(cv['fit_s']):.1f} |",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="folds fitted in parallel")
    parser.add_argument("--quick", action="store_true", help="3 folds, 300 latency calls")
    parser.add_argument("--variants", action="store_true", help="run the ablation table")
    parser.add_argument("--only", nargs="*", help="variant name substrings to run")
    parser.add_argument("--encoder", choices=sorted(ENCODERS), help="add the sentence-encoder block")
    parser.add_argument("--no-cv", action="store_true", help="only training time, size and latency")
    args = parser.parse_args(argv)
    if not args.data.exists():
        sys.exit(f"data file not found: {args.data}")
    X, y = load(args.data)
    folds = 3 if args.quick else args.folds
    if args.variants:
        run_variants(X, y, folds, args.jobs, args.only)
    else:
        params = dict(DEFAULT_PARAMS)
        if args.encoder:
            if not encoder_available():
                sys.exit("the encoder stack needs: make install-encoder")
            params.update(ENCODER_PARAMS, encoder=args.encoder)
        run_default(params, X, y, folds, args.jobs, 300 if args.quick else 1000, cv_too=not args.no_cv)


if __name__ == "__main__":
    main()
