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

``StreamingSuggester`` (streaming_suggest.py) serves it with the same interface
as ``Suggester``; ``suggester_for(pipeline)`` picks the right one for an artifact.
"""

from __future__ import annotations

import copy
import re
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

from triage.ml.text import DEFAULT_TOKEN_PATTERN, SubjectBodyJoiner, TextNormalizer, _as_pairs

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
