"""Serving the large-data model: one ticket at a time, with reasons.

``StreamingSuggester`` gives a fitted ``build_streaming_pipeline`` model
(streaming.py) the same interface as ``Suggester``; ``suggester_for(pipeline)``
picks the right one for a loaded artifact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from scipy.special import softmax
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from triage.ml.streaming import _PUNCT, HashedTicketFeatures, StreamingLinearClassifier, _bucket, is_streaming
from triage.ml.suggest import N_ALTERNATIVES, N_REASONS, Suggester, Suggestion
from triage.ml.text import SEPARATOR


class StreamingSuggester:
    """``Suggester``'s interface for a fitted ``build_streaming_pipeline`` model.

    One ticket is hashed in plain Python (the same columns HashingVectorizer
    gives, checked in the tests) so that each column knows the words it came
    from: the reasons are the ticket's words whose features added most to the
    suggested class's score. ``suggest_many`` is vectorised and gives no
    reasons unless asked (scoring 200,000 held-out tickets needs none).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        if not is_streaming(pipeline):
            raise TypeError("StreamingSuggester expects a pipeline made by build_streaming_pipeline().")
        self.pipeline = pipeline
        self._features: HashedTicketFeatures = pipeline.steps[0][1]
        self._clf: StreamingLinearClassifier = pipeline.steps[1][1]
        check_is_fitted(self._features, "word_document_frequency_")
        check_is_fitted(self._clf, "sgd_")
        self._classes = [str(c) for c in self._clf.classes_]
        coef = np.asarray(self._clf.sgd_.coef_, dtype=np.float64)
        intercept = np.asarray(self._clf.sgd_.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: scores [0, s]
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        self._W = coef  # (K, F)
        self._b = intercept
        self._T = float(self._clf.temperature_)
        tools = self._features._tools()
        self._join = tools["join"]
        self._normalizer = tools["normalizer"]
        self._char_analyzer = tools["char"].build_analyzer()
        self._nf = int(self._features.n_features)
        self._known_nf = int(self._features.known_n_features)

    @property
    def classes(self) -> list[str]:
        """Category labels, in the model's column order."""
        return list(self._classes)

    # -- one ticket ---------------------------------------------------------
    def _row(self, text: str) -> tuple[dict[int, float], dict[int, list[tuple[str, float]]], float]:
        """Feature values per column, the surface words behind each column, and the known share."""
        f = self._features
        values: dict[int, float] = {}
        where: dict[int, list[tuple[str, float]]] = {}
        toks = self._normalizer.analyse(text)
        counts: Counter[int] = Counter()
        lo, hi = f.word_ngram
        for n in range(lo, hi + 1):
            for i in range(len(toks) - n + 1):
                col = _bucket(" ".join(t[2] for t in toks[i : i + n]), self._nf)
                counts[col] += 1
                surface = text[toks[i][0] : toks[i + n - 1][1]]
                if SEPARATOR not in surface:
                    for start, end, _ in toks[i : i + n]:
                        where.setdefault(col, []).append((text[start:end], 1.0 / n))
        values.update(_weigh(counts, float(f.word_weight), 0))
        counts = Counter()
        per_word: list[tuple[str, list[int]]] = []
        for word in text.split():
            grams = [_bucket(g, self._nf) for g in self._char_analyzer(word)]
            counts.update(grams)
            per_word.append((_PUNCT.sub("", word), grams))
        values.update(_weigh(counts, float(f.char_weight), self._nf))
        for surface, grams in per_word:
            if surface:
                for col in grams:
                    where.setdefault(self._nf + col, []).append((surface, 1.0 / counts[col]))
        if toks:
            df = f.word_document_frequency_
            known = sum(1 for t in toks if df[_bucket(t[2], self._known_nf)] >= f.known_min_df) / len(toks)
        else:
            known = 0.0
        return values, where, known

    def text(self, subject: str, body: str) -> str:
        """The one string the model reads for a ticket (subject and body joined)."""
        return self._join.join(subject or "", body or "")

    def predict_proba_one(self, subject: str, body: str) -> np.ndarray:
        """Class probabilities for one ticket (same as pipeline.predict_proba)."""
        values, _, _ = self._row(self.text(subject, body))
        cols = np.fromiter(values.keys(), dtype=np.intp, count=len(values))
        vals = np.fromiter(values.values(), dtype=np.float64, count=len(values))
        return softmax((self._W[:, cols] @ vals + self._b) / self._T)

    def suggest(self, subject: str, body: str, explain: bool = True) -> Suggestion:
        """Suggest a category for one ticket, with alternatives and the words behind it."""
        text = self.text(subject, body)
        values, where, known = self._row(text)
        cols = np.fromiter(values.keys(), dtype=np.intp, count=len(values))
        vals = np.fromiter(values.values(), dtype=np.float64, count=len(values))
        weights = self._W[:, cols]
        proba = softmax((weights @ vals + self._b) / self._T)
        order = np.argsort(-proba, kind="stable")[: N_ALTERNATIVES + 1]
        best = int(order[0])
        reasons: list[tuple[str, float]] = []
        if explain and len(cols):
            # A column's pull towards the suggested class, relative to the mean class.
            contrib = vals * (weights[best] - weights.mean(axis=0))
            totals: dict[str, float] = {}
            display: dict[str, str] = {}
            for col, c in zip(cols.tolist(), contrib.tolist(), strict=True):
                for surface, share in where.get(col, ()):
                    key = surface.lower()
                    totals[key] = totals.get(key, 0.0) + c * share
                    display.setdefault(key, surface)
            top = sorted(((v, k) for k, v in totals.items() if v > 0), reverse=True)[:N_REASONS]
            reasons = [(display[k], round(v, 6)) for v, k in top]
        alternatives = [(self._classes[i], float(proba[i])) for i in order[1:]]
        return Suggestion(self._classes[best], float(proba[best]), alternatives, reasons, known)

    # -- many tickets -------------------------------------------------------
    def suggest_many(
        self, pairs: Iterable[tuple[str, str]], explain: bool = False, batch_size: int = 5000
    ) -> list[Suggestion]:
        """Suggestions for many pairs, a batch at a time; reasons only with ``explain``."""
        if explain:
            return [self.suggest(s, b) for s, b in pairs]
        out: list[Suggestion] = []
        for batch in _batches(pairs, batch_size):
            proba = self.pipeline.predict_proba(batch)
            known = self._features.known_shares(batch)
            top = np.argsort(-proba, axis=1, kind="stable")[:, : N_ALTERNATIVES + 1]
            for row, order, share in zip(proba, top, known, strict=True):
                out.append(
                    Suggestion(
                        self._classes[order[0]],
                        float(row[order[0]]),
                        [(self._classes[i], float(row[i])) for i in order[1:]],
                        [],
                        float(share),
                    )
                )
        return out


def _weigh(counts: dict[int, int], weight: float, offset: int) -> dict[int, float]:
    """1 + log(tf), l2-normalised, times the block weight (as HashedTicketFeatures)."""
    vals = {col: 1.0 + math.log(tf) for col, tf in counts.items()}
    norm = math.sqrt(sum(v * v for v in vals.values()))
    scale = weight / norm if norm > 0 else 0.0
    return {offset + col: v * scale for col, v in vals.items()}


def _batches(pairs: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def suggester_for(pipeline: Any) -> Suggester | StreamingSuggester:
    """The suggester that serves ``pipeline``: streaming for the large-data model, else ``Suggester``."""
    return StreamingSuggester(pipeline) if is_streaming(pipeline) else Suggester(pipeline)
