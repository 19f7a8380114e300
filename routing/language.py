"""Message language detection among a fixed set of languages, offline and deterministic.

py3langid (naive Bayes over byte n-grams, model shipped in the wheel) restricted to the
configured languages. Text shorter than MIN_WORDS letter-words, or classified with a
probability below MIN_CONFIDENCE, is too weak to trust; then the sender's locale decides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from py3langid.langid import MODEL_FILE, LanguageIdentifier

DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")
MIN_WORDS = 3
SAMPLE_CHARS = 2048
MIN_CONFIDENCE = 0.5  # normalized probability; 1/7 means no idea among 7 languages
_WORD = re.compile(r"[^\W\d_]+")  # runs of letters: numbers, ids and emoji do not count
_LOCALE_SEPARATORS = re.compile(r"[-_.,;@\s]")


class LanguageDetector:
    """ISO 639-1 code of a text among `languages`, or the locale's when the text is weak."""

    __slots__ = ("_identifier", "languages")

    def __init__(self, languages: Sequence[str] = DEFAULT_LANGUAGES) -> None:
        codes = tuple(dict.fromkeys(code.strip().lower() for code in languages))
        if not codes:
            raise ValueError("at least one language is required")
        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        identifier.set_languages(codes)  # ValueError names codes the model doesn't know
        self._identifier = identifier
        self.languages: frozenset[str] = frozenset(codes)

    def detect(self, text: str, locale: str | None) -> str | None:
        """The text's language if clear, else the locale's language if configured, else None.

        Only the first SAMPLE_CHARS characters are read: a few hundred words decide
        the language as well as a whole 9 MiB email would, which took 1.4 s."""
        sample = text[:SAMPLE_CHARS]
        if len(_WORD.findall(sample)) >= MIN_WORDS:
            language, confidence = self._identifier.classify(sample)
            if confidence >= MIN_CONFIDENCE:
                return str(language)
        return self.from_locale(locale)

    def from_locale(self, locale: str | None) -> str | None:
        """'de-AT' / 'de_AT' / 'DE' -> 'de' when configured, else None."""
        if not locale:
            return None
        primary = _LOCALE_SEPARATORS.split(locale.strip(), maxsplit=1)[0].lower()
        return primary if primary in self.languages else None
