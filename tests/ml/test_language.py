"""Multilingual tickets: offline language detection and per-language stemming."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from triage.ml import language
from triage.ml.language import MAX_CHARS, SNOWBALL_LANGUAGES, detect_language, detect_prefix, plainly_english
from triage.ml.pipeline import build_pipeline
from triage.ml.suggest import Suggester
from triage.ml.text import TextNormalizer

# Hand-written tickets, two categories in four languages.
FIXTURE: list[tuple[str, str, str]] = [
    ("en", "card", "My new card has not arrived yet, when will it be delivered?"),
    ("en", "card", "I ordered a card two weeks ago and I am still waiting for it"),
    ("en", "refund", "I want a refund for the payment that was charged twice"),
    ("en", "refund", "Please give me my money back for this duplicated transaction"),
    ("es", "card", "Mi tarjeta nueva todavía no ha llegado, ¿cuándo la recibiré?"),
    ("es", "card", "Pedí una tarjeta hace dos semanas y sigo esperando el envío"),
    ("es", "refund", "Quiero un reembolso del pago que me cobraron dos veces"),
    ("es", "refund", "Por favor devuélvanme el dinero de esta transacción duplicada"),
    ("fr", "card", "Ma nouvelle carte n'est toujours pas arrivée, quand vais-je la recevoir ?"),
    ("fr", "card", "J'ai commandé une carte il y a deux semaines et je l'attends encore"),
    ("fr", "refund", "Je veux un remboursement pour le paiement débité deux fois"),
    ("fr", "refund", "Merci de me rembourser cette transaction en double, s'il vous plaît"),
    ("de", "card", "Meine neue Karte ist immer noch nicht angekommen, wann bekomme ich sie?"),
    ("de", "card", "Ich habe vor zwei Wochen eine Karte bestellt und warte immer noch darauf"),
    ("de", "refund", "Ich möchte eine Rückerstattung für die doppelt abgebuchte Zahlung"),
    ("de", "refund", "Bitte erstatten Sie mir das Geld für diese doppelte Buchung zurück"),
]


@pytest.mark.parametrize(("lang", "text"), [(lang, text) for lang, _, text in FIXTURE], ids=lambda v: v[:20])
def test_it_detects_the_language_of_whole_sentences(lang: str, text: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "ok", "123 456", "?!"])
def test_it_is_unsure_about_too_little_text(text: str) -> None:
    assert detect_language(text) == ""


def test_every_detected_language_has_a_snowball_stemmer() -> None:
    from nltk.stem import SnowballStemmer

    assert set(SNOWBALL_LANGUAGES.values()) <= set(SnowballStemmer.languages)


def test_auto_normalizer_stems_each_text_in_its_language() -> None:
    auto = TextNormalizer(language="auto").fit([])
    english = TextNormalizer().fit([])
    spanish_text = "Las tarjetas nuevas todavía no han llegado"
    assert auto.language_of(spanish_text) == "spanish"
    assert "tarjet" in auto.normalize(spanish_text).split()  # Spanish stem of "tarjetas"
    english_text = "My cards haven't arrived, why?"
    assert auto.normalize(english_text) == english.normalize(english_text)
    assert auto.language_of("pin") == "english"  # unsure -> English
    assert TextNormalizer(language="auto", stem=False).fit([]).language_of(spanish_text) == ""


def test_auto_pipeline_classifies_and_suggester_agrees() -> None:
    X = [("", text) for _, _, text in FIXTURE]
    y = [label for _, label, _ in FIXTURE]
    pipe = build_pipeline({"language": "auto", "calibration_cv": 2}).fit(X, y)
    probe = [
        ("", "¿Dónde está mi tarjeta? Todavía no ha llegado"),
        ("", "Je voudrais un remboursement de ce paiement"),
        ("Karte", "Meine Karte ist nicht angekommen"),
        ("", "My card still hasn't arrived"),
    ]
    assert list(pipe.predict(probe)) == ["card", "refund", "card", "card"]
    sugg = Suggester(pipe)
    fast = np.array([sugg.predict_proba_one(s, b) for s, b in probe])
    np.testing.assert_allclose(fast, pipe.predict_proba(probe), atol=1e-9)
    reasons = sugg.suggest(*probe[0]).reasons
    assert reasons and all(word.lower() in probe[0][1].lower() for word, _ in reasons)


def test_a_long_ticket_is_read_from_its_start() -> None:
    # An English message above a long quoted Spanish thread: the customer's words decide.
    english = "Hello, I still have not received my new card and need to know when it will arrive. "
    spanish = "El lunes escribió: gracias por contactarnos, hemos recibido su mensaje y la tarjeta llegará pronto. "
    # The cut must fall in the English: lingua called 850 English characters followed by
    # 150 Spanish ones Spanish.
    text = english * 13 + spanish * 200
    assert len(english * 13) > MAX_CHARS
    assert detect_language(text) == "en"
    assert detect_language(spanish * 200) == "es"


def test_the_detection_memo_holds_only_the_start_that_was_read() -> None:
    # Tickets that differ only after MAX_CHARS share one memo entry, and no entry
    # keeps a whole 20,000-character body alive.
    start = "My card payment was declined at the shop and I do not know why. " * 20
    detect_prefix.cache_clear()
    assert detect_language(start + "A" * 20_000) == detect_language(start + "B" * 20_000) == "en"
    memo = detect_prefix.cache_info()
    assert (memo.misses, memo.hits, memo.currsize) == (1, 1, 1)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


@pytest.mark.parametrize(
    "text",
    [
        "Where is my card? It has not arrived yet",
        "Can you track the card you sent to me?",  # lingua alone: unsure
        "Is it possible to cancel a transaction?",  # lingua alone: French
        "I was charged £12 for a transfer, why? Thanks",  # a symbol outside ASCII is no letter
        "Why don\u2019t my payments show up",  # a typographic apostrophe
    ],
)
def test_plainly_english_text_is_english_without_asking_lingua(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lingua() -> None:
        raise AssertionError("lingua was asked")

    monkeypatch.setattr(language, "_detector", no_lingua)
    detect_prefix.cache_clear()
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    "text",
    [text for lang, _, text in FIXTURE if lang != "en"]
    + [_ascii(text) for lang, _, text in FIXTURE if lang != "en"]  # typed without accents
    + [
        "Hello, mi tarjeta no funciona, can you help me please",
        "I need help, je ne peux pas payer avec ma carte",
        "Can you help? Ich habe keine Karte bekommen",
        "Ola, perdi o meu cartao ontem",
        "Ik kan niet inloggen op mijn rekening",
        "Non riesco ad accedere al mio conto",
    ],
)
def test_foreign_or_mixed_text_is_never_taken_for_plain_english(text: str) -> None:
    assert not plainly_english(text)


def test_accentless_foreign_tickets_are_still_detected_by_lingua() -> None:
    for lang, _, text in FIXTURE:
        assert detect_language(_ascii(text)) == lang, text
