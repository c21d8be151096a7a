"""Custom scikit-learn text transformers used by the Assist pipeline.

The transformers are stateless in the statistical sense (nothing is learned
from the data) but follow scikit-learn's conventions so that ``clone``,
``get_params``/``set_params``, grid search and skops serialisation work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from nltk.stem import SnowballStemmer
from nltk.tokenize import RegexpTokenizer
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from triage.ml.language import SNOWBALL_LANGUAGES, detect_language

# Separator between subject and body. A newline never occurs inside a
# normalised token, and suggest.py uses it to avoid phrases that straddle
# subject and body.
SEPARATOR = "\n"

# Words (letters/digits/underscore) with inner apostrophes kept, so that
# "hasn't" / "can't" stay one token: negations matter for intent.
DEFAULT_TOKEN_PATTERN = r"\w+(?:['\u2019]\w+)*"  # noqa: S105 - a regex, not a password

# ``TextNormalizer(language=AUTO)`` detects each text's language.
AUTO = "auto"
FALLBACK_LANGUAGE = "english"

# Bound the per-instance stem cache so a long-running worker fed with
# garbage (random ids, hashes) cannot grow it without limit.
_MAX_CACHE = 200_000


def _as_pairs(X: Any) -> list[tuple[str, str]]:
    """Coerce X (list of pairs, or (n, 2) array) into a list of str pairs."""
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"Expected an array of shape (n, 2), got {X.shape}.")
        rows: Iterable[Any] = X.tolist()
    elif isinstance(X, str):
        raise ValueError("Expected a sequence of (subject, body) pairs, got a str.")
    else:
        rows = X
    pairs = []
    for row in rows:
        if isinstance(row, str) or len(row) != 2:
            raise ValueError("Each sample must be a (subject, body) pair.")
        subject, body = row
        pairs.append(("" if subject is None else str(subject), "" if body is None else str(body)))
    return pairs


class _TextInput:
    """sklearn tags for steps that take strings (or string pairs), not numeric arrays."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


class SubjectBodyJoiner(_TextInput, TransformerMixin, BaseEstimator):
    """Join (subject, body) pairs into one string per ticket.

    The subject is repeated ``subject_weight`` times (0 drops it): a cheap way
    to up-weight the subject in bag-of-words models without a second
    vectoriser.
    """

    def __init__(self, subject_weight: int = 1) -> None:
        self.subject_weight = subject_weight

    def fit(self, X: Any, y: Any = None) -> SubjectBodyJoiner:
        """Validate parameters; nothing is learned."""
        if not isinstance(self.subject_weight, (int, np.integer)) or self.subject_weight < 0:
            raise ValueError(f"subject_weight must be an int >= 0, got {self.subject_weight!r}.")
        _as_pairs(X)
        self.n_features_in_ = 2
        return self

    def join(self, subject: str, body: str) -> str:
        """Join one ticket (used by the fast single-ticket path)."""
        parts = [subject] * int(self.subject_weight) if subject else []
        parts.append(body)
        return SEPARATOR.join(p for p in parts if p)

    def transform(self, X: Any) -> list[str]:
        """Return one joined string per (subject, body) pair."""
        check_is_fitted(self, "n_features_in_")
        return [self.join(s, b) for s, b in _as_pairs(X)]


class TextNormalizer(_TextInput, TransformerMixin, BaseEstimator):
    """Lowercase, tokenise (NLTK regexp, no data files), drop stop words, stem.

    ``language`` is a Snowball stemmer name ("english", "spanish", ...) or
    ``"auto"``: each text's language is then detected offline
    (``triage.ml.language.detect_language``) and stemmed with that
    language's Snowball stemmer, English when the detector is unsure or the
    language has no stemmer. NLTK's stop-word lists need a data download, so
    stop words are only ever the explicit ``stop_words``.

    Returns one space-joined string of normalised tokens per input string, to
    be fed to a ``TfidfVectorizer(token_pattern=r"\\S+", lowercase=False)``.
    Stems are cached in a private per-instance dict created lazily (dropped on
    pickling/skops and by ``clone``).
    """

    def __init__(
        self,
        language: str = "english",
        stem: bool = True,
        lowercase: bool = True,
        stop_words: Sequence[str] | None = None,
        token_pattern: str = DEFAULT_TOKEN_PATTERN,
        min_token_len: int = 1,
    ) -> None:
        self.language = language
        self.stem = stem
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.token_pattern = token_pattern
        self.min_token_len = min_token_len

    def fit(self, X: Any, y: Any = None) -> TextNormalizer:
        """Validate parameters (and the language); nothing is learned."""
        if self.stem and self.language != AUTO and self.language not in SnowballStemmer.languages:
            raise ValueError(f"Unsupported stemming language {self.language!r}.")
        # A sorted tuple (not a set) so that skops serialises it with
        # built-in types only; the lookup set lives in the lazy cache.
        self.stop_words_ = tuple(sorted({w.lower() if self.lowercase else w for w in (self.stop_words or ())}))
        self.n_features_in_ = 1
        return self

    # -- helpers -----------------------------------------------------------
    def _tools(self) -> tuple[RegexpTokenizer, dict[str, Any], dict[tuple[str, str], str], frozenset[str]]:
        """Return (tokenizer, stemmers by language, stem cache, stop set), built lazily.

        Rebuilt when a relevant parameter changes (set_params after fit).
        Stemmers are created on first use of each language.
        """
        key = (self.language, self.token_pattern, self.stem, self.stop_words_)
        tools: tuple[Any, RegexpTokenizer, dict[str, Any], dict[tuple[str, str], str], frozenset[str]] | None
        tools = self.__dict__.get("_tools_cache")
        if tools is None or tools[0] != key:
            tokenizer = RegexpTokenizer(self.token_pattern)
            tools = (key, tokenizer, {}, {}, frozenset(self.stop_words_))
            self._tools_cache = tools
        return tools[1], tools[2], tools[3], tools[4]

    def language_of(self, text: str) -> str:
        """Snowball language used to stem ``text`` ("" when not stemming)."""
        if not self.stem:
            return ""
        if self.language != AUTO:
            return str(self.language)
        return SNOWBALL_LANGUAGES.get(detect_language(text), FALLBACK_LANGUAGE)

    def _stemmer(self, stemmers: dict[str, Any], language: str) -> Any:
        if not language:
            return None
        stemmer = stemmers.get(language)
        if stemmer is None:
            stemmer = stemmers[language] = SnowballStemmer(language)
        return stemmer

    def _norm_token(
        self,
        token: str,
        language: str,
        stemmer: Any,
        cache: dict[tuple[str, str], str],
        stops: frozenset[str],
    ) -> str | None:
        tok = token.lower() if self.lowercase else token
        if len(tok) < self.min_token_len or tok in stops:
            return None
        if stemmer is None:
            return tok
        out = cache.get((language, tok))
        if out is None:
            if len(cache) >= _MAX_CACHE:
                cache.clear()
            out = stemmer.stem(tok) or tok
            cache[(language, tok)] = out
        return out

    def analyse(self, text: str) -> list[tuple[int, int, str]]:
        """Return (start, end, normalised token) for each kept token of ``text``.

        Spans index into ``text`` so callers can show the surface words.
        """
        check_is_fitted(self, "stop_words_")
        tokenizer, stemmers, cache, stops = self._tools()
        language = self.language_of(text)
        stemmer = self._stemmer(stemmers, language)
        out = []
        for start, end in tokenizer.span_tokenize(text):
            norm = self._norm_token(text[start:end], language, stemmer, cache, stops)
            if norm is not None:
                out.append((start, end, norm))
        return out

    def normalize(self, text: str) -> str:
        """Normalise one string."""
        check_is_fitted(self, "stop_words_")
        tokenizer, stemmers, cache, stops = self._tools()
        language = self.language_of(text)
        stemmer = self._stemmer(stemmers, language)
        toks = (self._norm_token(t, language, stemmer, cache, stops) for t in tokenizer.tokenize(text))
        return " ".join(t for t in toks if t is not None)

    def transform(self, X: Iterable[str]) -> list[str]:
        """Return one normalised string per input string."""
        if isinstance(X, str):
            raise ValueError("Expected an iterable of strings, got a single str.")
        return [self.normalize(str(x)) for x in X]

    def __getstate__(self) -> dict[str, Any]:
        # Never serialise the cache/stemmer: keeps artifacts small and free of
        # NLTK types that the skops allow-list would otherwise need to trust.
        state = super().__getstate__()
        state.pop("_tools_cache", None)
        return state


# Joins the two tokens of a word pair. Normalised tokens never contain it.
PAIR_JOINER = "~"


def pair_positions(n_tokens: int, window: int) -> Iterator[tuple[int, int]]:
    """Token index pairs (i, j), i before j, 2 to ``window`` tokens apart.

    Neighbours (1 apart) are left out: the word block's bigrams have them.
    """
    for i in range(n_tokens):
        for j in range(i + 2, min(i + window, n_tokens - 1) + 1):
            yield i, j


class WordPairs(_TextInput, TransformerMixin, BaseEstimator):
    """Normalised text -> its word pairs, each one token ``"a~b"``.

    "card ... not ... arrived" says the same thing whatever words sit between,
    which bigrams miss. Each pair of tokens 2 to ``window`` apart, in their
    order, becomes one token for a ``TfidfVectorizer(token_pattern=r"\\S+")``.
    Every output also holds ``PAIR_JOINER`` alone, a token every ticket has: it
    keeps the vocabulary from being empty when a young install's few tickets
    share no pair (TfidfVectorizer refuses an empty one), and acts as a bias.
    Its gain and cost on Banking77: `bench/quality.py --variants`, docs/model.md,
    "Word pairs".
    """

    def __init__(self, window: int = 10) -> None:
        self.window = window

    def fit(self, X: Any, y: Any = None) -> WordPairs:
        """Validate ``window``; nothing is learned."""
        if not isinstance(self.window, (int, np.integer)) or self.window < 2:
            raise ValueError(f"window must be an integer >= 2, got {self.window!r}.")
        self.n_features_in_ = 1
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        """One string of space-separated pair tokens per normalised input string."""
        check_is_fitted(self, "n_features_in_")
        if isinstance(X, str):
            raise ValueError("Expected an iterable of strings, got a single str.")
        out = []
        for doc in X:
            toks = str(doc).split()
            pairs = (toks[i] + PAIR_JOINER + toks[j] for i, j in pair_positions(len(toks), self.window))
            out.append(" ".join((PAIR_JOINER, *pairs)))
        return out
