"""One message catalogue for every screen: Flask-Babel's gettext, Chinese first.

The source strings (msgids) are the Chinese of the POS manual, so Chinese needs no catalogue;
`translations/en/LC_MESSAGES/messages.po` holds the English. The .po files are read and
compiled in memory when first needed, so there is no build step and no binary in the repo.
The terminal page's script gets its strings from the same catalogue (`catalogue()`).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask
from flask_babel import Babel, Domain, get_locale

LANGUAGES = ("zh", "en")
# The message catalogues sit beside the package, at the top of the tree.
TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"


class PoDomain(Domain):
    """gettext's domain, reading the .po catalogues themselves."""

    def __init__(self) -> None:
        super().__init__(translation_directories=[str(TRANSLATIONS)])
        self._compiled: dict[str, NullTranslations] = {}
        self._lock = threading.Lock()

    def get_translations(self) -> NullTranslations:
        return self.for_language(str(get_locale() or "zh"))

    def for_language(self, language: str) -> NullTranslations:
        with self._lock:
            if language not in self._compiled:
                self._compiled[language] = _compile(language)
            return self._compiled[language]


def _compile(language: str) -> NullTranslations:
    po = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def init_app(app: Flask, locale_selector) -> None:
    babel = Babel(app, default_locale="zh", locale_selector=locale_selector)
    babel.domain_instance = PoDomain()


def msgids() -> list[str]:
    """Every string of the catalogue: the msgids of the English .po."""
    po = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        return [m.id for m in read_po(source) if m.id and isinstance(m.id, str)]


def catalogue(language: str) -> dict[str, str]:
    """Every string of the catalogue in a language, for a page's script."""
    from flask_babel import get_domain

    translations = get_domain().for_language(language)
    return {msgid: translations.gettext(msgid) for msgid in msgids()}
