"""Offline language detection for tickets (lingua, restricted to a few languages).

``detect_language`` returns an ISO 639-1 code ("en", "es", ...) or "" when
unsure. It is used by ``TextNormalizer(language="auto")`` to pick the NLTK
Snowball stemmer; character n-grams carry the languages we do not stem.

lingua's models ship inside its wheel, so nothing is downloaded at run time.
The detector is built lazily, once per process, and loads each language's
models on first use (its memory and time: `bench/quality.py`, docs/model.md,
"Languages"). Its low-accuracy mode (trigrams only) is not used: it calls
English queries German, French, Dutch or Italian even at high confidence
("Cancel a transaction" -> French), which would stem English with the wrong stemmer.
It holds no state learned from our data.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lingua import IsoCode639_1, LanguageDetectorBuilder

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
# Only the start of a long ticket is read: lingua's time grows with the text,
# and the customer's own words come first, before quoted threads and footers.
MAX_CHARS = 1000


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# The plainly English ticket skips lingua (a large share of classifying a ticket;
# `bench/quality.py --no-cv`): no letter outside ASCII, no common word of the other six languages,
# and English function words for at least a sixth of its words, two at least.
# The English list holds no word another of the languages spells the same
# ("is", "was", "of", "he", "also", "do", "i", "die", "me", "no" are left out),
# so a foreign sentence, or a mixed one, still goes to lingua; the foreign list
# is spelt without accents, as a text that reaches it is. Where it and lingua differ,
# lingua was unsure ("Where is my card?") or wrong ("Is it possible to cancel a
# transaction?" -> French); how many tickets it answers: docs/model.md, "Languages".
ENGLISH_MARKERS = _wordset(
    """the my your you it it's are were be been have has had haven't hasn't hadn't this that
    these those what why how when where which who can can't cannot could couldn't would
    wouldn't should will won't does did don't doesn't didn't not and for with from to at
    by about into just please get got there their they them we our us she his than then
    still yet any some isn't aren't wasn't weren't i'm i've i'd i'll"""
)
FOREIGN_MARKERS = _wordset(
    """el la los las lo del al y que en mi mis por para con una un es esta son pero como
    se su sus ya muy mas porque cuando donde hola gracias tengo
    le les des du et je j'ai mon ma mes est pas une avec pour dans sur qui ne vous nous ce
    cette mais ou au aux il elle bonjour merci suis
    der das den dem und ich ist nicht mein meine ein eine einen mit fur auf zu wie bitte sie
    wir nach von vom zum zur noch aber oder kein keine hallo danke habe
    di che non sono della gli ho ci questo mio mia per uno nel sul ciao grazie
    nao meu minha os um uma com obrigado da das dos na voce ola
    het een ik niet mijn van voor op dat zijn heb geen wat hoe waarom ook nog maar om te
    met naar er bedankt"""
)
_WORD = re.compile(r"[a-z']+")


def plainly_english(text: str) -> bool:
    """True when ``text`` is English on its face, so lingua need not read it (see above)."""
    if not text.isascii() and any(ch.isalpha() for ch in text if ord(ch) > 127):
        return False
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    english = 0
    for word in words:
        if word in FOREIGN_MARKERS:
            return False
        english += word in ENGLISH_MARKERS
    return english >= 2 and english * 6 >= len(words)


@lru_cache(maxsize=1)
def _detector() -> Any:
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
    if plainly_english(text):
        return "en"
    values = _detector().compute_language_confidence_values(text)
    if not values or values[0].value < MIN_CONFIDENCE:
        return ""
    return str(values[0].language.iso_code_639_1.name.lower())
