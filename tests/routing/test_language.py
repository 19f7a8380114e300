"""LanguageDetector: the configured set, determinism, and the locale fallback."""

from __future__ import annotations

import pytest

from routing.language import DEFAULT_LANGUAGES, LanguageDetector


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()  # loads the model once (about a second)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        pytest.param("My package never arrived, can you check?", "en", id="en"),
        pytest.param(
            "Mein Paket ist nie angekommen, können Sie nachsehen?", "de", id="de"
        ),
        pytest.param(
            "Mon colis n'est jamais arrivé, pouvez-vous vérifier ?", "fr", id="fr"
        ),
        pytest.param("Mi paquete nunca llegó, ¿pueden revisarlo?", "es", id="es"),
        pytest.param(
            "Il mio pacco non è mai arrivato, potete controllare?", "it", id="it"
        ),
        pytest.param(
            "Mijn pakket is nooit aangekomen, kunt u dat nakijken?", "nl", id="nl"
        ),
        pytest.param("Minha encomenda nunca chegou, podem verificar?", "pt", id="pt"),
        pytest.param(
            "Die Rechnung zeigt den falschen Betrag.", "de", id="de-short-sentence"
        ),
        pytest.param("brauche sofort Hilfe", "de", id="de-three-words"),
        pytest.param("THE APP KEEPS CRASHING", "en", id="shouting"),
    ],
)
def test_detects_language_of_text(
    detector: LanguageDetector, text: str, language: str
) -> None:
    assert detector.detect(text, locale="ja-JP") == language


def test_text_wins_over_locale(detector: LanguageDetector) -> None:
    assert detector.detect("Wo ist meine Bestellung geblieben?", locale="fr-FR") == "de"


@pytest.mark.parametrize(
    ("text", "locale", "language"),
    [
        pytest.param("Danke!", "de-AT", "de", id="too-few-words"),
        pytest.param("ok 👍", "nl_BE", "nl", id="emoji-is-no-word"),
        pytest.param("INV-2026-00042 123", "pt-BR", "pt", id="numbers-are-no-words"),
        pytest.param("", "FR", "fr", id="empty-text"),
        pytest.param("xx yy zz", "it-IT", "it", id="low-confidence"),
        pytest.param("lol lol lol", "es", "es", id="low-confidence-repeated"),
        pytest.param("Danke!", "en-US,en;q=0.9", "en", id="accept-language-list"),
        pytest.param("Danke!", "ja-JP", None, id="locale-not-configured"),
        pytest.param("Danke!", None, None, id="no-locale"),
        pytest.param("Danke!", "", None, id="empty-locale"),
        pytest.param("Danke!", "  ", None, id="blank-locale"),
    ],
)
def test_falls_back_to_locale(
    detector: LanguageDetector, text: str, locale: str | None, language: str | None
) -> None:
    assert detector.detect(text, locale) == language


def test_detection_is_deterministic(detector: LanguageDetector) -> None:
    texts = [
        "Ich möchte mein Abo bitte kündigen.",
        "reembolso por favor",
        "De app crasht steeds als ik inlog.",
        "ok",
    ]
    first = [detector.detect(text, "en") for text in texts]
    again = [detector.detect(text, "en") for text in texts]
    fresh = LanguageDetector()
    assert first == again == [fresh.detect(text, "en") for text in texts]


def test_restricted_to_configured_languages() -> None:
    detector = LanguageDetector(["EN", "de", "de"])
    assert detector.languages == frozenset({"en", "de"})
    assert detector.detect(
        "Mon colis n'est jamais arrivé, pouvez-vous vérifier ?", None
    ) in {
        "en",
        "de",
    }
    assert detector.detect("Merci", "fr-FR") is None


def test_default_languages() -> None:
    assert DEFAULT_LANGUAGES == ("en", "de", "fr", "es", "it", "nl", "pt")


@pytest.mark.parametrize(
    ("languages", "message"),
    [
        pytest.param([], "at least one language", id="empty"),
        pytest.param(["en", "xx"], "Unknown language code", id="unknown-code"),
    ],
)
def test_rejects_bad_language_sets(languages: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LanguageDetector(languages)
