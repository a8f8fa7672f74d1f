"""The page's words in the reader's language: the gettext catalog's messages and the compliance
profile's rule titles, for the page's script to apply.

The messages are the shipped catalogs, readable without a login (the login page speaks the
reader's language too); the rule titles are this facility's profile, for signed-in readers only."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from minewatch.api.dependencies import Ctx, Reader
from minewatch.api.report_files import rule_titles
from minewatch.i18n import LANGUAGES, messages

router = APIRouter(prefix="/api/v1", tags=["page"])


@router.get("/i18n/{lang}")
def translations(ctx: Ctx, reader: Reader, lang: Literal["en", "ru", "tk"]) -> dict[str, Any]:
    """Messages (English source → ``lang``) and, for a signed-in reader, rule titles by rule id;
    English needs none."""
    titles = rule_titles(ctx) if reader is not None else {}
    return {
        "lang": lang,
        "languages": LANGUAGES,
        "messages": messages(lang),
        "rule_titles": {rule: by_lang[lang] for rule, by_lang in titles.items() if lang in by_lang},
    }
