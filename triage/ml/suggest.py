"""Fast single-ticket prediction with word-level explanations.

``Suggester`` re-implements the fitted pipeline's forward pass for one
ticket in plain Python/NumPy (TF-IDF of a dozen words, a sparse row times a
dense coefficient slice, a softmax with the model's temperature), which avoids
scikit-learn's per-call validation overhead (bench/quality.py prints both) and
gives the per-feature contributions needed for the reasons. The result is
checked against ``pipeline.predict_proba`` in the tests.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from triage.ml.pipeline import CalibratedLinearClassifier
from triage.ml.text import PAIR_JOINER, SEPARATOR, SubjectBodyJoiner, TextNormalizer, WordPairs, pair_positions

N_ALTERNATIVES = 3
N_REASONS = 5
# Words whose char n-gram columns a Suggester remembers (a few MB at most).
CHAR_MEMO_WORDS = 100_000
_WORD = re.compile(r"\S+")
_PUNCT = re.compile(r"^\W+|\W+$")


@dataclass(frozen=True)
class Suggestion:
    """A suggested category, its probability, runners-up and why."""

    label: str
    confidence: float
    alternatives: list[tuple[str, float]]
    reasons: list[tuple[str, float]]
    # Share of the ticket's words the model has seen in training: low for text
    # unlike anything it was trained on (another language, gibberish).
    known_share: float = 1.0
    # With the sentence encoder: cosine similarity of the ticket's embedding to the
    # most similar training ticket's, low for a request unlike any it learned
    # from, even in familiar words. None without an encoder.
    nearest_similarity: float | None = None


class _Block:
    """One TF-IDF block of the FeatureUnion, flattened for fast lookups."""

    def __init__(self, vec: TfidfVectorizer, offset: int, weight: float) -> None:
        vocab = vec.vocabulary_
        self.index = {term: offset + col for term, col in vocab.items()}
        self.offset = offset
        self.idf_array = np.asarray(vec.idf_, dtype=np.float64) if vec.use_idf else None
        self.sublinear = bool(vec.sublinear_tf)
        self.binary = bool(vec.binary)
        self.norm = vec.norm
        self.weight = weight
        self.width = len(vocab)

    def weigh(self, counts: dict[int, int]) -> dict[int, float]:
        """Counts per column -> TF-IDF values per column."""
        cols = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        return dict(zip(cols.tolist(), self.weigh_array(cols, tf).tolist(), strict=True))

    def weigh_array(self, cols: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Distinct columns and their counts -> TF-IDF values (same maths as TfidfVectorizer)."""
        v = np.ones(len(counts)) if self.binary else counts.astype(np.float64)
        if self.sublinear:
            v = 1.0 + np.log(v)
        if self.idf_array is not None:
            v = v * self.idf_array[cols - self.offset]
        if self.norm == "l2":
            n = float(np.sqrt(v @ v))
        elif self.norm == "l1":
            n = float(np.abs(v).sum())
        else:
            n = 1.0
        return v * (self.weight / n if n > 0 else 0.0)


@dataclass(frozen=True)
class _CharWords:
    """The ticket's whitespace-separated words and their char n-gram occurrences."""

    surfaces: list[str]  # each word as written, outer punctuation stripped
    word_of: np.ndarray  # per occurrence: the index of its word
    inverse: np.ndarray  # per occurrence: the index of its column in `columns`
    counts: np.ndarray  # per distinct column: occurrences in the ticket
    columns: np.ndarray  # the distinct columns
    weights: np.ndarray  # their TF-IDF values


@dataclass(frozen=True)
class _PairWords:
    """The ticket's word tokens and the word pairs found in the pair block's vocabulary."""

    surfaces: list[str]  # each token as written
    first: np.ndarray  # per pair occurrence: its first token
    second: np.ndarray  # per pair occurrence: its second token
    inverse: np.ndarray  # per pair occurrence: the index of its column in `columns`
    counts: np.ndarray  # per distinct column: occurrences in the ticket
    columns: np.ndarray  # the distinct columns
    weights: np.ndarray  # their TF-IDF values


@dataclass(frozen=True)
class _Sources:
    """Where a ticket's features came from, for the reasons."""

    phrases: dict[int, str]  # word n-gram column -> the text it was read from
    chars: _CharWords | None
    pairs: _PairWords | None


class Suggester:
    """Wrap a fitted pipeline from ``build_pipeline`` for fast suggestions."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        steps = [est for _, est in getattr(pipeline, "steps", [])]
        if (
            len(steps) != 3
            or not isinstance(steps[0], SubjectBodyJoiner)
            or not isinstance(steps[1], FeatureUnion)
            or not isinstance(steps[2], CalibratedLinearClassifier)
        ):
            raise TypeError("Suggester expects a pipeline made by build_pipeline().")
        join, union, clf = steps
        check_is_fitted(clf, "model_")
        self._join = join
        self._word: tuple[TextNormalizer, _Block, tuple[int, int]] | None = None
        # Word-pair block: (normaliser, block, window, shares the word block's tokens).
        self._pairs: tuple[TextNormalizer, _Block, int, bool] | None = None
        self._char: tuple[Any, Any, _Block] | None = None
        # Dense sentence-embedding block: (transformer, first column, weight).
        self._dense: tuple[Any, int, float] | None = None
        self._char_memo: dict[str, np.ndarray] = {}
        weights = union.transformer_weights or {}
        offset = 0
        for name, trans in union.transformer_list:
            if trans == "drop":
                continue
            w = float(weights.get(name, 1.0))
            if isinstance(trans, Pipeline) and isinstance(trans[1], WordPairs):  # normalise -> pairs -> tfidf
                norm, vec = trans[0], trans[-1]
                same = self._word is not None and norm.get_params() == self._word[0].get_params()
                self._pairs = (norm, _Block(vec, offset, w), int(trans[1].window), same)
                offset += len(vec.vocabulary_)
            elif isinstance(trans, Pipeline):  # normalise -> tfidf(\S+)
                norm, vec = trans[0], trans[-1]
                self._word = (norm, _Block(vec, offset, w), vec.ngram_range)
                offset += len(vec.vocabulary_)
            elif isinstance(trans, TfidfVectorizer) and trans.analyzer == "char_wb":
                self._char = (
                    trans.build_analyzer(),
                    trans.build_preprocessor(),
                    _Block(trans, offset, w),
                )
                offset += len(trans.vocabulary_)
            elif type(trans).__name__ == "SentenceEncoderFeatures":
                # Loads the encoder now: fails here, with the install command,
                # if the optional packages are missing.
                trans.model()
                self._dense = (trans, offset, w)
                offset += int(trans.n_features_out_)
            else:
                raise TypeError(f"Unsupported feature block {name!r}.")
        self._n_features = offset
        self._classes = [str(c) for c in clf.classes_]
        self._temperature = float(clf.temperature_)
        self._setup_model(clf.model_)

    # -- model -------------------------------------------------------------
    def _setup_model(self, model: Any) -> None:
        """The linear model's coefficients as one dense (F, K) matrix, in class order.

        A binary model has one row of coefficients: it scores class 1 with +w and
        class 0 with 0, as its decision function does.
        """
        if not hasattr(model, "coef_"):
            raise TypeError(f"Unsupported classifier {type(model).__name__}.")
        coef = np.asarray(model.coef_.toarray() if hasattr(model.coef_, "toarray") else model.coef_, dtype=np.float64)
        if [str(c) for c in model.classes_] != self._classes:
            raise TypeError("The classifier's classes differ from the pipeline's.")
        self._W = np.ascontiguousarray(coef.T)
        self._b = np.broadcast_to(np.asarray(model.intercept_, dtype=np.float64), coef.shape[0]).copy()
        # Explanation weights per class: a binary model's class 0 is weighed by -w.
        self._expl = np.column_stack([-coef[0], coef[0]]) if coef.shape[0] == 1 else coef.T

    def _proba(self, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """Probabilities for one sparse row given as (columns, values): softmax(scores / T)."""
        d = (vals @ self._W[cols] + self._b if len(cols) else self._b.copy()) / self._temperature
        if len(self._classes) == 2:
            return np.array([1 - expit(d[0]), expit(d[0])])
        return softmax(d)

    # -- features ----------------------------------------------------------
    def _features(self, text: str) -> tuple[dict[int, float], _Sources, list[tuple[int, int, str]], float | None]:
        """TF-IDF values per column, where the columns came from in the text (for the
        reasons), the normalised word tokens, and the text's similarity to the
        nearest training ticket (with the sentence encoder; otherwise None)."""
        values: dict[int, float] = {}
        where: dict[int, str] = {}
        chars: _CharWords | None = None
        toks: list[tuple[int, int, str]] = []
        if self._word is not None:
            normalizer, block, (lo, hi) = self._word
            toks = normalizer.analyse(text)
            counts: Counter[int] = Counter()
            for n in range(lo, hi + 1):
                for i in range(len(toks) - n + 1):
                    col = block.index.get(" ".join(t[2] for t in toks[i : i + n]))
                    if col is not None:
                        counts[col] += 1
                        surface = text[toks[i][0] : toks[i + n - 1][1]]
                        if SEPARATOR not in surface and col not in where:
                            where[col] = surface
            values.update(block.weigh(counts))
        pairs = self._pair_features(text, toks, values) if self._pairs is not None else None
        if self._char is not None:
            _, preprocess, block = self._char
            surfaces, arrays = [], []
            for m, low in zip(_WORD.finditer(text), preprocess(text).split(), strict=False):
                surfaces.append(_PUNCT.sub("", m.group()))
                arrays.append(self._char_columns(low))
            occurrences = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.intp)
            if len(occurrences):
                columns, inverse, per_column = np.unique(occurrences, return_inverse=True, return_counts=True)
                weights = block.weigh_array(columns, per_column)
                values.update(zip(columns.tolist(), weights.tolist(), strict=True))
                lengths = np.fromiter(map(len, arrays), dtype=np.intp, count=len(arrays))
                word_of = np.repeat(np.arange(len(arrays)), lengths)
                chars = _CharWords(surfaces, word_of, inverse, per_column, columns, weights)
        similarity = None
        if self._dense is not None:
            # Embedding dimensions have no surface word, so they count in the
            # probabilities but not in the reasons.
            trans, first, weight = self._dense
            emb = trans.transform([text])[0]
            similarity = trans.nearest_similarity(emb)
            values.update(zip(range(first, first + len(emb)), (emb * weight).tolist(), strict=True))
        return values, _Sources(where, chars, pairs), toks, similarity

    def _pair_features(
        self, text: str, toks: list[tuple[int, int, str]], values: dict[int, float]
    ) -> _PairWords | None:
        """Add the pair block's TF-IDF values to ``values``; where each pair came from."""
        normalizer, block, window, shared = self._pairs  # type: ignore[misc]
        if not shared:
            toks = normalizer.analyse(text)
        stems = [t[2] for t in toks]
        index = block.index
        found, first, second = [], [], []
        for i, j in pair_positions(len(stems), window):
            col = index.get(stems[i] + PAIR_JOINER + stems[j])
            if col is not None:
                found.append(col)
                first.append(i)
                second.append(j)
        always = index.get(PAIR_JOINER)  # the token every ticket has (WordPairs)
        if always is not None:
            found.append(always)
        if not found:
            return None
        columns, inverse, counts = np.unique(np.array(found, dtype=np.intp), return_inverse=True, return_counts=True)
        weights = block.weigh_array(columns, counts)
        values.update(zip(columns.tolist(), weights.tolist(), strict=True))
        return _PairWords(
            surfaces=[text[a:b] for a, b, _ in toks],
            first=np.array(first, dtype=np.intp),
            second=np.array(second, dtype=np.intp),
            inverse=inverse[: len(first)],
            counts=counts,
            columns=columns,
            weights=weights,
        )

    def _char_columns(self, word: str) -> np.ndarray:
        """The char n-gram columns of one lowercased word, memoised: words repeat
        across tickets far more than they vary, and the n-grams are most of the work."""
        columns = self._char_memo.get(word)
        if columns is None:
            analyzer, _, block = self._char  # type: ignore[misc]
            found = [c for c in map(block.index.get, analyzer(word)) if c is not None]
            columns = np.array(found, dtype=np.intp)
            if len(self._char_memo) >= CHAR_MEMO_WORDS:
                self._char_memo.clear()
            self._char_memo[word] = columns
        return columns

    # -- public API --------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        """Category labels, in the model's column order."""
        return list(self._classes)

    def text(self, subject: str, body: str) -> str:
        """The one string the model reads for a ticket (subject and body joined)."""
        return self._join.join(subject or "", body or "")

    def predict_proba_one(self, subject: str, body: str) -> np.ndarray:
        """Class probabilities for one ticket (same as pipeline.predict_proba)."""
        values, _, _, _ = self._features(self.text(subject, body))
        cols = np.fromiter(values.keys(), dtype=np.intp, count=len(values))
        vals = np.fromiter(values.values(), dtype=np.float64, count=len(values))
        return self._proba(cols, vals)

    def suggest(self, subject: str, body: str, explain: bool = True) -> Suggestion:
        """Suggest a category for one ticket, with alternatives and reasons."""
        values, sources, toks, similarity = self._features(self.text(subject, body))
        cols = np.fromiter(values.keys(), dtype=np.intp, count=len(values))
        vals = np.fromiter(values.values(), dtype=np.float64, count=len(values))
        proba = self._proba(cols, vals)
        order = np.argsort(-proba, kind="stable")[: N_ALTERNATIVES + 1]
        best = int(order[0])
        alternatives = [(self._classes[i], float(proba[i])) for i in order[1:]]
        reasons = self._reasons(values, sources, best) if explain and len(cols) else []
        known = self._known(toks)
        return Suggestion(self._classes[best], float(proba[best]), alternatives, reasons, known, similarity)

    def _known(self, tokens: list[tuple[int, int, str]]) -> float:
        if self._word is None:
            return 1.0
        if not tokens:
            return 0.0
        index = self._word[1].index
        return sum(1 for t in tokens if t[2] in index) / len(tokens)

    def _reasons(self, values: dict[int, float], sources: _Sources, label: int) -> list[tuple[str, float]]:
        """Top words/phrases by positive contribution tfidf x coef to ``label``."""
        expl = self._expl[:, label]
        totals: dict[str, float] = {}
        display: dict[str, str] = {}

        def add(surface: str, contribution: float) -> None:
            key = surface.lower()
            totals[key] = totals.get(key, 0.0) + contribution
            display.setdefault(key, surface)

        for col, surface in sources.phrases.items():
            add(surface, values[col] * float(expl[col]))
        pairs = sources.pairs
        if pairs is not None and len(pairs.first):
            # A pair's contribution is shared by its occurrences, and each
            # occurrence's share by its two words.
            half = (pairs.weights * expl[pairs.columns] / pairs.counts / 2)[pairs.inverse]
            n = len(pairs.surfaces)
            per_word = np.bincount(pairs.first, half, minlength=n) + np.bincount(pairs.second, half, minlength=n)
            for surface, total in zip(pairs.surfaces, per_word.tolist(), strict=True):
                if total:
                    add(surface, total)
        chars = sources.chars
        if chars is not None:
            # Each occurrence of a char n-gram carries its share of the n-gram's
            # contribution; a word's total is the sum over its occurrences.
            share = (chars.weights * expl[chars.columns] / chars.counts)[chars.inverse]
            per_word = np.bincount(chars.word_of, weights=share, minlength=len(chars.surfaces))
            for surface, total in zip(chars.surfaces, per_word.tolist(), strict=True):
                if surface:
                    add(surface, total)
        top = sorted(((v, k) for k, v in totals.items() if v > 0), reverse=True)[:N_REASONS]
        return [(display[k], round(v, 6)) for v, k in top]

    def suggest_many(self, pairs: Iterable[tuple[str, str]]) -> list[Suggestion]:
        """Suggestions for many (subject, body) pairs."""
        return [self.suggest(s, b) for s, b in pairs]
