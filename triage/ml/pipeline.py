"""Build the Assist ticket-classification pipeline.

joiner -> FeatureUnion(word TF-IDF on NLTK-normalised text, optionally TF-IDF of
                       word pairs, char_wb TF-IDF, optionally sentence embeddings)
       -> linear classifier, probabilities calibrated by one softmax temperature.

``DEFAULT_PARAMS`` were chosen by 5-fold stratified CV on Banking77
(see bench/quality.py and docs/model.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sklearn
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from triage.ml.text import DEFAULT_TOKEN_PATTERN, SubjectBodyJoiner, TextNormalizer, WordPairs

DEFAULT_PARAMS: dict[str, Any] = {
    # Input / normalisation
    "subject_weight": 2,
    "language": "auto",  # per-ticket detection (triage/ml/language.py); English when unsure
    "stem": True,
    "stop_words": None,  # CV: stop-word removal hurts intent detection
    "token_pattern": DEFAULT_TOKEN_PATTERN,
    # Word block: n-grams of stems
    "word_ngram": (1, 2),
    "word_min_df": 1,
    "word_weight": 1.0,
    # Pair block: pairs of stems 2..word_pairs tokens apart (0: no block). Off by
    # default: its small accuracy gain costs training time and one-ticket latency
    # (`bench/quality.py --variants`, docs/model.md); ASSIST_MODEL_WORD_PAIRS=6 turns it on.
    "word_pairs": 0,
    "pairs_min_df": 2,
    "pairs_weight": 0.5,
    # Char block: char_wb n-grams of the lowercased raw text (typos, morphology)
    "char": True,
    "char_ngram": (2, 5),
    "char_min_df": 2,
    "char_weight": 1.0,
    "sublinear_tf": True,
    # Optional dense block: sentence embeddings (triage/ml/encoder.py, needs
    # make install-encoder). None keeps the core scikit-learn + NLTK stack.
    "encoder": None,  # None | "minilm" | "minilm-int8" (triage.ml.encoder.ENCODERS)
    "encoder_weight": 1.0,
    # Classifier
    "classifier": "svc",  # "svc" (LinearSVC) | "lr" (LogisticRegression) | "sgd"
    "C": 0.5,
    "class_weight": None,
    # Folds whose out-of-fold scores fit the softmax temperature (bench/quality.py
    # --variants compares it with Platt and isotonic calibration).
    "calibration_cv": 5,
    "random_state": 0,
}


class CalibratedLinearClassifier(ClassifierMixin, BaseEstimator):
    """A linear classifier whose probabilities are softmax(scores / T).

    One shared temperature T is fitted on out-of-fold decision scores by
    minimising the log-loss of softmax(scores / T) (scikit-learn has no
    temperature scaling). Unlike one-vs-rest Platt scaling it keeps the ranking
    and suits many-class problems: one parameter, no renormalisation of 77
    independent sigmoids.

    It never crashes on tiny classes, which a fresh install has (2-3 tickets per
    category): it uses ``min(cv, smallest class count)`` stratified folds, and
    when a class has a single example it fits T on the training scores
    themselves (over-confident, but usable until more data).
    """

    def __init__(self, estimator: Any = None, cv: int = 5, random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> CalibratedLinearClassifier:
        """Fit the base estimator and the temperature."""
        y = np.asarray(y)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError("Need tickets from at least 2 categories to train.")
        base = clone(self.estimator if self.estimator is not None else LinearSVC())
        folds = int(min(self.cv, counts.min()))
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            scores = cross_val_predict(clone(base), X, y, cv=cv, method="decision_function")
        model = base.fit(X, y)
        if folds < 2:  # in-sample scores: over-confident, but never crashes
            scores = model.decision_function(X)
        self.temperature_ = _fit_temperature(_scores_2d(scores), np.searchsorted(classes, y))
        self.n_folds_ = max(folds, 1)
        self.model_ = model
        self.classes_ = model.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities."""
        check_is_fitted(self, "model_")
        scores = _scores_2d(self.model_.decision_function(X))
        return softmax(scores / self.temperature_, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _scores_2d(scores: np.ndarray) -> np.ndarray:
    """Binary decision scores (n,) -> (n, 2) logits [0, s]; else unchanged."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return np.column_stack([np.zeros_like(scores), scores])
    return scores


def _fit_temperature(scores: np.ndarray, y_idx: np.ndarray) -> float:
    """Temperature minimising the log-loss of softmax(scores / T)."""
    rows = np.arange(len(y_idx))

    def nll(log_t: float) -> float:
        logp = log_softmax(scores / np.exp(log_t), axis=1)
        return float(-logp[rows, y_idx].mean())

    res = minimize_scalar(nll, bounds=(-6.0, 4.0), method="bounded")
    return float(np.exp(res.x))


def _classifier(p: dict[str, Any]) -> Any:
    kind = p["classifier"]
    if kind == "svc":
        return LinearSVC(C=p["C"], class_weight=p["class_weight"], random_state=p["random_state"])
    if kind == "lr":
        return LogisticRegression(
            C=p["C"],
            class_weight=p["class_weight"],
            max_iter=2000,
            random_state=p["random_state"],
        )
    if kind == "sgd":
        # alpha plays the role of 1/(C * n_samples); keep C as the single knob.
        return SGDClassifier(
            loss="modified_huber",
            alpha=1.0 / (p["C"] * 10_000),
            class_weight=p["class_weight"],
            max_iter=50,
            tol=1e-4,
            random_state=p["random_state"],
        )
    raise ValueError(f"Unknown classifier {kind!r}; expected 'svc', 'lr' or 'sgd'.")


def build_pipeline(params: dict[str, Any] | None = None) -> Pipeline:
    """Return an unfitted pipeline; ``params`` override ``DEFAULT_PARAMS``."""
    unknown = set(params or {}) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"Unknown pipeline params: {sorted(unknown)}")
    p = {**DEFAULT_PARAMS, **(params or {})}
    word = Pipeline(
        [
            (
                "normalize",
                TextNormalizer(
                    language=p["language"],
                    stem=p["stem"],
                    stop_words=p["stop_words"],
                    token_pattern=p["token_pattern"],
                ),
            ),
            (
                "tfidf",
                # Tokens are already normalised: split on whitespace only, so
                # one-letter tokens ("i", "a") and apostrophes survive.
                TfidfVectorizer(
                    token_pattern=r"\S+",  # noqa: S106 - a regex, not a password
                    lowercase=False,
                    ngram_range=tuple(p["word_ngram"]),
                    min_df=p["word_min_df"],
                    sublinear_tf=p["sublinear_tf"],
                    dtype=np.float64,
                ),
            ),
        ]
    )
    blocks: list[tuple[str, Any]] = [("word", word)]
    weights = {"word": float(p["word_weight"])}
    if p["word_pairs"]:
        pairs = Pipeline(
            [
                ("normalize", clone(word[0])),
                ("pairs", WordPairs(window=p["word_pairs"])),
                (
                    "tfidf",
                    TfidfVectorizer(
                        token_pattern=r"\S+",  # noqa: S106 - a regex, not a password
                        lowercase=False,
                        min_df=p["pairs_min_df"],
                        sublinear_tf=p["sublinear_tf"],
                        dtype=np.float64,
                    ),
                ),
            ]
        )
        blocks.append(("pairs", pairs))
        weights["pairs"] = float(p["pairs_weight"])
    if p["char"]:
        char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(p["char_ngram"]),
            min_df=p["char_min_df"],
            sublinear_tf=p["sublinear_tf"],
            lowercase=True,
            dtype=np.float64,
        )
        blocks.append(("char", char))
        weights["char"] = float(p["char_weight"])
    if p["encoder"] is not None:
        # Imported here so the core stack never needs the optional packages;
        # SentenceEncoderFeatures itself imports them lazily on fit.
        from triage.ml.encoder import SentenceEncoderFeatures

        blocks.append(("encoder", SentenceEncoderFeatures(encoder=p["encoder"])))
        weights["encoder"] = float(p["encoder_weight"])
    clf = CalibratedLinearClassifier(_classifier(p), cv=p["calibration_cv"], random_state=p["random_state"])
    return Pipeline(
        [
            ("join", SubjectBodyJoiner(subject_weight=p["subject_weight"])),
            ("features", FeatureUnion(blocks, transformer_weights=weights)),
            ("clf", clf),
        ]
    )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, list)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, type):
        return value.__name__
    raise TypeError


def model_params(pipeline: Pipeline) -> dict[str, Any]:
    """JSON-serialisable hyperparameters of ``pipeline`` for model lineage.

    Every primitive parameter of every step (``step__sub__param`` keys), plus
    the estimator class names and the scikit-learn version. A fitted sentence
    encoder block adds ``<key>__weights_sha256`` (see
    ``triage.ml.encoder.encoder_weights_sha256``).
    """
    out: dict[str, Any] = {"sklearn_version": sklearn.__version__}
    for key, value in sorted(pipeline.get_params(deep=True).items()):
        if isinstance(value, BaseEstimator):
            out[key] = type(value).__name__
            if hasattr(value, "weights_sha256_"):
                out[f"{key}__weights_sha256"] = value.weights_sha256_
            continue
        try:
            out[key] = _jsonable(value)
        except TypeError:
            continue  # lists of (name, estimator) etc.: covered by the keys above
    return out
