"""Offline language detection for tickets (lingua, restricted to a few languages).

``detect_language`` returns an ISO 639-1 code ("en", "es", ...) or "" when
unsure. It is used by ``TextNormalizer(language="auto")`` to pick the NLTK
Snowball stemmer; character n-grams carry the languages we do not stem.

lingua's models ship inside its wheel, so nothing is downloaded at run time.
The detector is built lazily, once per process, and loads each language's
models on first use (about 240 MB of memory for the seven languages below;
~0.1 ms per short ticket once loaded). Its low-accuracy mode (trigrams only,
~40 MB) was tried and rejected: it called 49 of 10,003 English Banking77
queries German/French/Dutch/Italian even at 0.9 confidence ("Cancel a
transaction" -> French), which would stem English with the wrong stemmer.
It holds no state learned from our data.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# ISO 639-1 code -> NLTK Snowball stemmer name. Every language here is
# supported by both lingua and Snowball.
SNOWBALL_LANGUAGES: dict[str, str] = {
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "de": "german",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}

# Below this confidence (lingua's relative confidence of the best language,
# the seven summing to 1) we answer "" and callers fall back to English.
# On 3,000 Banking77 queries, 2 non-English answers reach 0.5 and none 0.6;
# short foreign tickets ("Je n'ai pas reçu ma carte", 0.54) need the lower bar.
MIN_CONFIDENCE = 0.5
# Fewer letters than this is too little evidence to switch language.
MIN_LETTERS = 8
# Only the start of a long ticket is read: lingua's time grows with the text
# (about 10 ms for a 20,000-character body, against 0.5 ms for these 1,000),
# and the customer's own words come first, before quoted threads and footers.
MAX_CHARS = 1000


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in SNOWBALL_LANGUAGES]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language (read from its first MAX_CHARS), or "" when unsure."""
    return detect_prefix(text[:MAX_CHARS])


# Suggester asks twice per ticket (features, known-words share); training
# texts repeat. Bounded, a pure function of its input, and keyed on the prefix
# actually read, so 4,096 entries hold at most ~16 MB, not whole 20,000-character bodies.
@lru_cache(maxsize=4096)
def detect_prefix(text: str) -> str:
    """The memoised detection of a text already cut to MAX_CHARS (see detect_language)."""
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return ""
    values = _detector().compute_language_confidence_values(text)
    if not values or values[0].value < MIN_CONFIDENCE:
        return ""
    return str(values[0].language.iso_code_639_1.name.lower())
