"""Screen of the encoder stack's classifier on Banking77: what could lift first-choice accuracy.

    python bench/accuracy_screen.py [--folds 5] [--inner 3] [--cache /tmp/assist-screen]
    python bench/accuracy_screen.py --folds 2 --inner 2 --rows 3000     # a quick check

The bench's 5 stratified folds (bench/quality.py's splits). For each fold the product's
own feature blocks (word and char TF-IDF, fitted on the fold's training part) and the
MiniLM embeddings (int8 and float32, computed once and cached on disk) are combined
here, outside the pipeline, so that many classifiers can be tried on the same features:

* the reference (the encoder stack: word + char + 2 x embedding, LinearSVC C=0.5), with
  the float32 encoder, other block weights, other C, logistic regression;
* blends of the linear scores with scores from the embeddings alone: a k-nearest-
  neighbour vote (each class's summed cosine similarity among the k most similar
  training tickets) and an RBF-kernel SVC.

A blend weight is never picked on the fold it is scored on: each fold's weight is chosen
by an inner cross-validation on that fold's training part (`--inner` folds), and the
table shows the weights chosen. The temperature calibration is left out: it divides the
scores by one constant, so the first choice is the same.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC, LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.ml.encoder import get_encoder
from triage.ml.pipeline import build_pipeline

DEFAULT_DATA = Path("/work/shared/data/banking77/train.csv")
KNN_K = 5
KNN_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2)
RBF_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5)


def embeddings(texts: list[str], name: str, cache: Path) -> np.ndarray:
    """Unit-length MiniLM embeddings of every text, computed once per encoder."""
    path = cache / f"embeddings-{name}-{len(texts)}.npy"
    if path.exists():
        return np.load(path).astype(np.float64)
    out = get_encoder(name).encode(texts)
    np.save(path, out)
    return out


def tfidf_blocks(texts: list[str], train: np.ndarray, test: np.ndarray) -> dict[str, tuple[Any, Any]]:
    """The pipeline's word and char blocks fitted on `train`: (train rows, test rows) each."""
    union = build_pipeline()[1]
    out = {}
    for name, block in union.transformer_list:
        fitted = block.fit([texts[i] for i in train])
        out[name] = (fitted.transform([texts[i] for i in train]), fitted.transform([texts[i] for i in test]))
    return out


def stack(
    blocks: dict[str, tuple[Any, Any]], vectors: np.ndarray, train: np.ndarray, test: np.ndarray, **w: float
) -> Any:
    """Weighted [word | char | embedding] rows for train and test."""
    parts = []
    for side, rows in ((0, train), (1, test)):
        parts.append(
            sp.hstack(
                [
                    blocks["word"][side] * w.get("word", 1.0),
                    blocks["char"][side] * w.get("char", 1.0),
                    sp.csr_matrix(vectors[rows] * w.get("emb", 2.0)),
                ]
            ).tocsr()
        )
    return parts


def knn_votes(similarity: np.ndarray, train_idx: np.ndarray, n_classes: int, k: int = KNN_K) -> np.ndarray:
    """Per class, the summed similarity of its tickets among each row's k most similar."""
    top = np.argpartition(-similarity, k, axis=1)[:, :k]
    votes = np.zeros((similarity.shape[0], n_classes))
    rows = np.arange(similarity.shape[0])
    for j in range(k):
        np.add.at(votes, (rows, train_idx[top[:, j]]), similarity[rows, top[:, j]])
    return votes


def scores(
    texts: list[str], y: np.ndarray, emb: np.ndarray, train: np.ndarray, test: np.ndarray, C: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Linear scores (the encoder stack), kNN votes and RBF-SVC scores of `test`, and its labels' indices."""
    classes = np.unique(y[train])
    blocks = tfidf_blocks(texts, train, test)
    a, b = stack(blocks, emb, train, test)
    linear = LinearSVC(C=C, random_state=0).fit(a, y[train]).decision_function(b)
    votes = knn_votes(emb[test] @ emb[train].T, np.searchsorted(classes, y[train]), len(classes))
    rbf = SVC(C=10, gamma=1.0).fit(emb[train], y[train]).decision_function(emb[test])
    return linear, votes, rbf, np.searchsorted(classes, y[test])


def pick(inner: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """The (kNN, RBF) weights with the best accuracy over the inner folds."""
    best, best_acc = (0.0, 0.0), -1.0
    for a in KNN_WEIGHTS:
        for b in RBF_WEIGHTS:
            acc = np.mean([((lin + a * v + b * r).argmax(1) == t).mean() for lin, v, r, t in inner])
            if acc > best_acc + 1e-9:
                best, best_acc = (a, b), acc
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner", type=int, default=3, help="inner folds that pick each blend weight")
    parser.add_argument("--rows", type=int, default=0, help="use only this many rows (a quick check)")
    parser.add_argument("--blends-only", action="store_true", help="skip the table of linear classifiers")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "assist-screen", help="where embeddings are kept"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    with args.data.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if args.rows:
        rows = rows[: args.rows]
    texts, y = [r["text"] for r in rows], np.array([r["category"] for r in rows])
    emb = {name: embeddings(texts, name, args.cache) for name in ("minilm-int8", "minilm")}
    print(f"Banking77: {len(y)} rows; {args.folds}-fold stratified CV (random_state 42); first-choice accuracy\n")

    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=42).split(texts, y))
    fold_blocks: list[dict[str, tuple[Any, Any]]] = []

    def linear_row(label: str, make: Callable[[], Any], encoder: str = "minilm-int8", **w: float) -> None:
        accs, fit_s = [], []
        if not fold_blocks:
            fold_blocks.extend(tfidf_blocks(texts, train, test) for train, test in folds)
        for (train, test), blocks in zip(folds, fold_blocks, strict=True):
            a, b = stack(blocks, emb[encoder], train, test, **w)
            started = time.perf_counter()
            model = make().fit(a, y[train])
            fit_s.append(time.perf_counter() - started)
            accs.append(float((model.predict(b) == y[test]).mean()))
        print(
            f"| {label} | {statistics.mean(accs):.4f} ± {statistics.pstdev(accs):.4f} "
            f"| {statistics.mean(fit_s):.1f} s |",
            flush=True,
        )

    if not args.blends_only:
        linear_rows(linear_row)
    blend_rows(args, texts, y, emb, folds)


def linear_rows(linear_row: Callable[..., None]) -> None:
    """The encoder stack against other encoders, weights and linear classifiers."""
    print("| classifier on [word, char, embedding] | accuracy | fit per fold |")
    print("|---|---:|---:|")
    linear_row("LinearSVC C=0.5, int8 encoder, embedding weight 2 (the encoder stack)", lambda: LinearSVC(C=0.5))
    linear_row("… float32 encoder", lambda: LinearSVC(C=0.5), encoder="minilm")
    linear_row("… embedding weight 1.5", lambda: LinearSVC(C=0.5), emb=1.5)
    linear_row("… embedding weight 3", lambda: LinearSVC(C=0.5), emb=3.0)
    linear_row("… char weight 0.7", lambda: LinearSVC(C=0.5), char=0.7)
    linear_row("… C=0.25", lambda: LinearSVC(C=0.25))
    linear_row("… C=1", lambda: LinearSVC(C=1.0))
    linear_row("LogisticRegression C=10", lambda: LogisticRegression(C=10.0, max_iter=300))


def blend_rows(
    args: argparse.Namespace, texts: list[str], y: np.ndarray, emb: dict[str, np.ndarray], folds: list
) -> None:
    """The linear scores blended with kNN votes and RBF-SVC scores on the embeddings."""
    print("\n| blend (weights picked by inner CV) | accuracy | weights per fold (kNN, RBF) |")
    print("|---|---:|---|")
    for encoder in ("minilm-int8", "minilm"):
        results: dict[str, list[float]] = {"linear": [], "knn": [], "rbf": [], "both": []}
        chosen: dict[str, list[str]] = {"knn": [], "rbf": [], "both": []}
        for train, test in folds:
            inner = [
                scores(texts, y, emb[encoder], train[i], train[j])
                for i, j in StratifiedKFold(args.inner, shuffle=True, random_state=0).split(train, y[train])
            ]
            lin, votes, rbf, truth = scores(texts, y, emb[encoder], train, test)
            results["linear"].append(float((lin.argmax(1) == truth).mean()))
            for key, grid in (
                ("knn", [(i[0], i[1], i[2] * 0, i[3]) for i in inner]),
                ("rbf", [(i[0], i[1] * 0, i[2], i[3]) for i in inner]),
                ("both", inner),
            ):
                a, b = pick(grid)
                results[key].append(float(((lin + a * votes + b * rbf).argmax(1) == truth).mean()))
                chosen[key].append(f"({a:g}, {b:g})")
        for key, label in (
            ("linear", "none (the encoder stack)"),
            ("knn", f"+ kNN vote (k={KNN_K})"),
            ("rbf", "+ RBF SVC on the embeddings"),
            ("both", "+ both"),
        ):
            print(
                f"| {encoder}: {label} | {statistics.mean(results[key]):.4f} ± {statistics.pstdev(results[key]):.4f} "
                f"| {' '.join(chosen.get(key, []))} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
