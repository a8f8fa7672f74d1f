"""The live page and its login.

Login keeps the token out of every log: the demo prints ``/login#token=...``; the part after ``#``
never leaves the browser, whose script POSTs it to ``/login``, which answers with an HttpOnly,
SameSite=Strict cookie. A token can also be pasted into the login form.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from minewatch.api.auth import COOKIE, check_token
from minewatch.api.dependencies import Ctx, Reader
from minewatch.api.errors import Unauthenticated
from minewatch.resources import shipped

STATIC = shipped("api", "static")
#: How long the page's login lasts; the operator logs in again after a week.
COOKIE_MAX_AGE_S = 7 * 24 * 3600

router = APIRouter(include_in_schema=False)


class Login(BaseModel):
    token: str = Field(max_length=512)


@router.get("/")
def index(principal: Reader) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if principal.role == "inspector":  # inspectors read reports; the live page is the operator's
        return RedirectResponse("/inspect", status_code=303)
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@router.get("/inspect")
def inspect(principal: Reader) -> Response:
    """The inspector's page: pick a period, read the report, download it signed."""
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if principal.role == "operator":
        return RedirectResponse("/", status_code=303)
    return FileResponse(STATIC / "inspect.html", headers={"Cache-Control": "no-store"})


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for it on every page; an SVG icon under the name they ask for."""
    return FileResponse(
        STATIC / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "max-age=86400"},
    )


@router.get("/login")
def login_page() -> FileResponse:
    return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})


@router.post("/login", status_code=204)
def login(request: Request, ctx: Ctx, body: Login) -> Response:
    principal = check_token(request, ctx.tokens, ctx.failed_logins, body.token.strip())
    if principal is None:
        raise Unauthenticated("token not recognised", challenge="Bearer", parameter="token")
    resp = Response(status_code=204)
    resp.set_cookie(
        COOKIE,
        body.token.strip(),
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return resp


@router.post("/logout", status_code=204)
def logout() -> Response:
    resp = Response(status_code=204)
    resp.delete_cookie(COOKIE, path="/")
    return resp
