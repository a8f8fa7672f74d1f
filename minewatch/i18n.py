"""Languages of what people read: English, Russian and Turkmen (Latin script).

Messages are gettext catalogs kept with Babel: ``minewatch/locale/<lang>/LC_MESSAGES/minewatch.po``
(edited by translators) and the compiled ``.mo`` beside it (what is read at run time, shipped as
package data). English is the source language and needs no catalog. Turkmenistan's inspectors and
many operators read Turkmen or Russian; rule titles are translated in the compliance profiles
themselves (``titles:`` per rule), not here, because they change with the profile.

Regenerate after changing a message (``babel.cfg`` maps Python, the pages' scripts with their
``t("...")``, ``tf("... {value} ...", {...})`` and ``N_("...")`` calls, and the pages' HTML with
``extract_html`` below)::

    pybabel extract -w 100 -F babel.cfg -k t -k tf -o minewatch/locale/minewatch.pot .
    pybabel update -w 100 -i minewatch/locale/minewatch.pot -d minewatch/locale -D minewatch
    pybabel compile -d minewatch/locale -D minewatch
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import IO, Any

from babel.messages.mofile import read_mo
from babel.support import Translations

from minewatch.resources import shipped

#: Language code → its name in itself (what a language switch shows).
LANGUAGES = {"en": "English", "ru": "Русский", "tk": "Türkmençe"}
DEFAULT_LANGUAGE = "en"
DOMAIN = "minewatch"


def N_(message: str) -> str:
    """Mark a message for the catalog where it is defined; it is translated where it is shown."""
    return message


def locale_dir() -> str:
    return str(shipped("locale"))


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog for ``lang`` (English and unknown codes: messages as written)."""
    if lang not in LANGUAGES or lang == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    return Translations.load(locale_dir(), [lang], DOMAIN)


def gettext_for(lang: str) -> Callable[[str], str]:
    """``_`` for one language: the translation of a message, or the message itself."""
    return translations(lang).gettext


@lru_cache(maxsize=len(LANGUAGES))
def messages(lang: str) -> dict[str, str]:
    """Every translated message of ``lang`` (source text → translation), for the page's script."""
    if lang not in LANGUAGES or lang == DEFAULT_LANGUAGE:
        return {}
    path = shipped("locale", lang, "LC_MESSAGES", f"{DOMAIN}.mo")
    with path.open("rb") as fh:
        catalog = read_mo(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def negotiate(accept_language: str | None) -> str:
    """The best of ``LANGUAGES`` for an ``Accept-Language`` header (``ru-RU,ru;q=0.9,en;q=0.8``);
    English when none is offered. Malformed parts are skipped, never refused."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for order, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in LANGUAGES:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if q > best_q or (q == best_q and order == 0):
            best, best_q = code, q
    return best


def locale_language(environ: Mapping[str, str]) -> str:
    """The language of a terminal's locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG`` as POSIX reads
    them, e.g. ``ru_RU.UTF-8``), for the CLI; English when it is none of ours."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            code = re.split(r"[-_.@]", value)[0].lower()
            return code if code in LANGUAGES else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def rule_title(
    rule_id: str, english: str, titles: Mapping[str, Mapping[str, str]], lang: str
) -> str:
    """A rule's title in ``lang`` from the profile's ``titles`` (by rule id), else its English."""
    return titles.get(rule_id, {}).get(lang) or english


# data-i18n exactly (the lookahead keeps data-i18n-attrs elements' text out)
_DATA_I18N = re.compile(rb"<[^>]*\bdata-i18n(?=[\s>=/])[^>]*>([^<]+)<")
_DATA_I18N_ATTRS = re.compile(rb"<[^>]*\bdata-i18n-attrs\b[^>]*>")
_I18N_ATTR = re.compile(rb'\s(?:placeholder|title|aria-label)="([^"]+)"')


def extract_html(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor for the pages' HTML: the text of every element marked ``data-i18n`` and the
    placeholder, title and aria-label of every element marked ``data-i18n-attrs`` (the page's
    script translates those at run time, see ``api/static/i18n.js``)."""
    text = fileobj.read()
    found = [(m.start(), m.group(1)) for m in _DATA_I18N.finditer(text)]
    for tag in _DATA_I18N_ATTRS.finditer(text):
        found += [(tag.start(), a.group(1)) for a in _I18N_ATTR.finditer(tag.group(0))]
    for start, raw in sorted(found):
        message = " ".join(raw.decode().split())
        if message:
            yield text.count(b"\n", 0, start) + 1, "", message, []
