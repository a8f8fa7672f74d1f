"""The page's words in the reader's language: the gettext catalog's messages and the compliance
profile's rule titles, for the page's script to apply."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends

from minewatch.api.dependencies import Ctx, any_role
from minewatch.api.report_files import rule_titles
from minewatch.i18n import LANGUAGES, messages

router = APIRouter(prefix="/api/v1", dependencies=[Depends(any_role)], tags=["page"])


@router.get("/i18n/{lang}")
def translations(ctx: Ctx, lang: Literal["en", "ru", "tk"]) -> dict[str, Any]:
    """Messages (English source → ``lang``) and rule titles by rule id; English needs none."""
    return {
        "lang": lang,
        "languages": LANGUAGES,
        "messages": messages(lang),
        "rule_titles": {
            rule: titles[lang] for rule, titles in rule_titles(ctx).items() if lang in titles
        },
    }
