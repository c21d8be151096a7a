"""The large-data model: hashed features and an incremental linear classifier.

Above ``settings.LARGE_TRAINING_ROWS`` confirmed tickets, the TF-IDF pipeline
(pipeline.py) no longer fits in time or memory: its vocabularies grow with the
data and LinearSVC needs the whole matrix at once. This model needs neither:

    (subject, body) ─ HashedTicketFeatures
        ├─ word: TextNormalizer stems, 1-2-grams, hashed into 2**17 columns
        └─ char: char_wb 3-5-grams of the lowercased text, hashed into 2**17 columns
        each block: 1 + log(tf), l2-normalised, weighted
     → StreamingLinearClassifier: SGDClassifier(log_loss) fed chunk by chunk
       with ``partial_fit``, then softmax(scores / T), T fitted on set-aside rows.

Nothing depends on the data's size except the training time: the feature
space is fixed, each chunk is transformed, learned from, and dropped.
``HashedTicketFeatures`` learns one thing, a document-frequency table of the
word stems (in its own, larger hash space), so that ``known_share`` can tell a
ticket made of words never seen in training (another language, gibberish).

``StreamingSuggester`` serves it with the same interface as ``Suggester``;
``suggester_for(pipeline)`` picks the right one for a loaded artifact.
"""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_is_fitted

from triage.ml.suggest import N_ALTERNATIVES, N_REASONS, Suggester, Suggestion
from triage.ml.text import DEFAULT_TOKEN_PATTERN, SEPARATOR, SubjectBodyJoiner, TextNormalizer, _as_pairs

_PUNCT = re.compile(r"^\W+|\W+$")
_INT32_MIN = -(2**31)


def _bucket(term: str, n_features: int) -> int:
    """The column HashingVectorizer(alternate_sign=False) gives ``term``."""
    h = murmurhash3_32(term, seed=0, positive=False)
    if h == _INT32_MIN:
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(h) % n_features


class HashedTicketFeatures(TransformerMixin, BaseEstimator):
    """(subject, body) pairs -> hashed word-stem and char n-gram features.

    Stateless apart from ``word_document_frequency_`` (how many training tickets
    contain each word stem, in a ``known_n_features`` hash space), which
    ``partial_fit`` accumulates chunk by chunk and ``known_shares`` reads.
    """

    def __init__(
        self,
        subject_weight: int = 2,
        language: str = "english",
        stem: bool = True,
        token_pattern: str = DEFAULT_TOKEN_PATTERN,
        word_ngram: tuple[int, int] = (1, 2),
        char_ngram: tuple[int, int] = (3, 5),
        n_features: int = 2**17,
        word_weight: float = 1.0,
        char_weight: float = 1.0,
        known_n_features: int = 2**20,
        known_min_df: int = 2,
    ) -> None:
        self.subject_weight = subject_weight
        self.language = language
        self.stem = stem
        self.token_pattern = token_pattern
        self.word_ngram = word_ngram
        self.char_ngram = char_ngram
        self.n_features = n_features
        self.word_weight = word_weight
        self.char_weight = char_weight
        self.known_n_features = known_n_features
        self.known_min_df = known_min_df

    # -- tools, built lazily and never serialised ---------------------------
    def _tools(self) -> dict[str, Any]:
        key = (
            self.subject_weight,
            self.language,
            self.stem,
            self.token_pattern,
            tuple(self.word_ngram),
            tuple(self.char_ngram),
            self.n_features,
            self.known_n_features,
        )
        tools: dict[str, Any] | None = self.__dict__.get("_tools_cache")
        if tools is None or tools["key"] != key:
            hashing = {"alternate_sign": False, "norm": None, "dtype": np.float32}
            tools = {
                "key": key,
                "join": SubjectBodyJoiner(subject_weight=self.subject_weight).fit([]),
                "normalizer": TextNormalizer(
                    language=self.language, stem=self.stem, token_pattern=self.token_pattern
                ).fit([]),
                "word": HashingVectorizer(
                    token_pattern=r"\S+",  # noqa: S106 - a regex, not a password
                    lowercase=False,
                    ngram_range=tuple(self.word_ngram),
                    n_features=self.n_features,
                    **hashing,
                ),
                "char": HashingVectorizer(
                    analyzer="char_wb", ngram_range=tuple(self.char_ngram), n_features=self.n_features, **hashing
                ),
                "stems": HashingVectorizer(
                    token_pattern=r"\S+",  # noqa: S106 - a regex, not a password
                    lowercase=False,
                    n_features=self.known_n_features,
                    **hashing,
                ),
            }
            self._tools_cache = tools
        return tools

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_tools_cache", None)
        return state

    def _prepare(self, X: Any) -> tuple[list[str], list[str]]:
        """Joined texts and their normalised (stemmed) forms."""
        tools = self._tools()
        joined = [tools["join"].join(s, b) for s, b in _as_pairs(X)]
        return joined, [tools["normalizer"].normalize(t) for t in joined]

    # -- fitting ------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> HashedTicketFeatures:
        """Count word-stem document frequencies on X (forgetting earlier counts)."""
        self.__dict__.pop("word_document_frequency_", None)
        return self.partial_fit(X, y)

    def partial_fit(self, X: Any, y: Any = None) -> HashedTicketFeatures:
        """Add X's word-stem document frequencies to the table."""
        _, normalized = self._prepare(X)
        self._count_stems(normalized)
        return self

    def _count_stems(self, normalized: list[str]) -> None:
        if not hasattr(self, "word_document_frequency_"):
            if self.n_features < 2 or self.known_n_features < 2:
                raise ValueError("n_features and known_n_features must be at least 2.")
            self.word_document_frequency_ = np.zeros(self.known_n_features, dtype=np.int32)
            self.n_documents_ = 0
            self.n_features_in_ = 2
        stems = self._tools()["stems"].transform(normalized)
        self.word_document_frequency_ += np.bincount(stems.indices, minlength=self.known_n_features).astype(np.int32)
        self.n_documents_ += len(normalized)

    # -- transforming -------------------------------------------------------
    def transform(self, X: Any) -> sp.csr_matrix:
        """Hashed features, shape (n, 2 * n_features): word block then char block."""
        joined, normalized = self._prepare(X)
        return self._features(joined, normalized)

    def partial_fit_transform(self, X: Any) -> sp.csr_matrix:
        """``partial_fit(X)`` then ``transform(X)``, normalising the text once (training loop)."""
        joined, normalized = self._prepare(X)
        self._count_stems(normalized)
        return self._features(joined, normalized)

    def _features(self, joined: list[str], normalized: list[str]) -> sp.csr_matrix:
        tools = self._tools()
        blocks = []
        for vectorizer, texts, weight in (
            (tools["word"], normalized, self.word_weight),
            (tools["char"], joined, self.char_weight),
        ):
            block = vectorizer.transform(texts).tocsr()
            block.data = 1.0 + np.log(block.data)
            norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
            scale = np.divide(weight, norms, out=np.zeros_like(norms), where=norms > 0)
            blocks.append(sp.diags(scale.astype(np.float32)) @ block)
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def known_shares(self, X: Any) -> np.ndarray:
        """Per ticket, the share of its word stems seen in at least ``known_min_df`` training tickets."""
        check_is_fitted(self, "word_document_frequency_")
        _, normalized = self._prepare(X)
        stems = self._tools()["stems"].transform(normalized).tocsr()
        known = stems.copy()
        known.data = np.where(self.word_document_frequency_[stems.indices] >= self.known_min_df, stems.data, 0.0)
        hits = np.asarray(known.sum(axis=1)).ravel()
        totals = np.asarray(stems.sum(axis=1)).ravel()
        out = np.divide(hits, totals, out=np.zeros(len(normalized)), where=totals > 0)
        return out


class StreamingLinearClassifier(ClassifierMixin, BaseEstimator):
    """SGDClassifier trained chunk by chunk, with a temperature-scaled softmax.

    ``partial_fit`` feeds one chunk to the SGD model; ``calibrate`` fits the
    temperature T on rows it was not trained on. ``fit`` does both on an
    in-memory X: every ``calibration_every``-th row is set aside for T, the
    rest is learned in ``n_epochs`` passes.
    """

    def __init__(
        self,
        loss: str = "log_loss",
        alpha: float = 2e-6,
        n_epochs: int = 1,
        calibration_every: int = 50,
        batch_size: int = 10_000,
        random_state: int | None = 0,
    ) -> None:
        self.loss = loss
        self.alpha = alpha
        self.n_epochs = n_epochs
        self.calibration_every = calibration_every
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> StreamingLinearClassifier:
        """Learn from X in mini-batches, then calibrate on the set-aside rows."""
        y = np.asarray(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("Need tickets from at least 2 categories to train.")
        for name in ("sgd_", "temperature_", "classes_"):
            self.__dict__.pop(name, None)
        aside = np.arange(len(y)) % max(self.calibration_every, 1) == 0
        if self.calibration_every <= 1 or aside.all():
            aside[:] = False
        learn = np.flatnonzero(~aside)
        rng = np.random.default_rng(self.random_state)
        for _ in range(max(self.n_epochs, 1)):
            order = rng.permutation(learn)
            for start in range(0, len(order), self.batch_size):
                rows = np.sort(order[start : start + self.batch_size])
                self.partial_fit(X[rows], y[rows], classes=classes)
        # Too few set-aside rows for a fair T: calibrate in-sample (over-confident).
        held = np.flatnonzero(aside) if aside.sum() >= 2 * len(classes) else learn
        return self.calibrate(X[held], y[held])

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> StreamingLinearClassifier:
        """Learn from one chunk; ``classes`` is required on the first call."""
        if not hasattr(self, "sgd_"):
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit.")
            self.sgd_ = SGDClassifier(loss=self.loss, alpha=self.alpha, random_state=self.random_state)
            self.classes_ = np.asarray(classes)
            self.temperature_ = 1.0
        self.sgd_.partial_fit(X, y, classes=self.classes_)
        self.n_features_in_ = self.sgd_.n_features_in_
        return self

    def calibrate(self, X: Any, y: Any) -> StreamingLinearClassifier:
        """Fit the softmax temperature on labelled rows the model did not learn from."""
        check_is_fitted(self, "sgd_")
        y = np.asarray(y)
        known = np.isin(y, self.classes_)
        if not known.any():
            self.temperature_ = 1.0
            return self
        scores = self.decision_function(X[np.flatnonzero(known)])
        self.temperature_ = fit_temperature(scores, np.searchsorted(self.classes_, y[known]))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw scores, one column per class (two for a binary problem)."""
        check_is_fitted(self, "sgd_")
        scores = np.asarray(self.sgd_.decision_function(X), dtype=np.float64)
        return np.column_stack([np.zeros_like(scores), scores]) if scores.ndim == 1 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """softmax(scores / T)."""
        return softmax(self.decision_function(X) / self.temperature_, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class."""
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def fit_temperature(scores: np.ndarray, y_idx: np.ndarray) -> float:
    """The T minimising the log-loss of softmax(scores / T)."""
    rows = np.arange(len(y_idx))

    def nll(log_t: float) -> float:
        return float(-log_softmax(scores / np.exp(log_t), axis=1)[rows, y_idx].mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-6.0, 4.0), method="bounded").x))


def build_streaming_pipeline(params: dict[str, Any] | None = None) -> Pipeline:
    """An unfitted large-data pipeline.

    Of the TF-IDF pipeline's parameters, those that mean the same here
    (subject_weight, language, stem, token_pattern, word_ngram) are honoured;
    ``streaming_*`` keys set the others (e.g. ``streaming_alpha``).
    """
    p = params or {}
    shared = {k: p[k] for k in ("subject_weight", "language", "stem", "token_pattern") if k in p}
    if "word_ngram" in p:
        shared["word_ngram"] = tuple(p["word_ngram"])
    features = HashedTicketFeatures(**shared)
    clf = StreamingLinearClassifier()
    for key, value in p.items():
        if key.startswith("streaming_"):
            name = key.removeprefix("streaming_")
            target = features if name in features.get_params() else clf
            target.set_params(**{name: tuple(value) if isinstance(value, list) else value})
    return Pipeline([("features", features), ("clf", clf)])


def is_streaming(pipeline: Any) -> bool:
    steps = getattr(pipeline, "steps", [])
    return (
        len(steps) == 2
        and isinstance(steps[0][1], HashedTicketFeatures)
        and isinstance(steps[1][1], StreamingLinearClassifier)
    )


def snapshot(pipeline: Pipeline) -> Pipeline:
    """A deep copy of a pipeline being trained (the evaluation model at the holdout cut)."""
    return copy.deepcopy(pipeline)


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

    def predict_proba_one(self, subject: str, body: str) -> np.ndarray:
        """Class probabilities for one ticket (same as pipeline.predict_proba)."""
        values, _, _ = self._row(self._join.join(subject or "", body or ""))
        cols = np.fromiter(values.keys(), dtype=np.intp, count=len(values))
        vals = np.fromiter(values.values(), dtype=np.float64, count=len(values))
        return softmax((self._W[:, cols] @ vals + self._b) / self._T)

    def suggest(self, subject: str, body: str, explain: bool = True) -> Suggestion:
        """Suggest a category for one ticket, with alternatives and the words behind it."""
        text = self._join.join(subject or "", body or "")
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
