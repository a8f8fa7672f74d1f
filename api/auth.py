"""Role-based bearer tokens: operator, inspector, admin.

Tokens come from the environment variable named by ``api.tokens_env`` as ``role:token`` pairs
separated by commas (several tokens per role allowed, so one can be rotated while the other still
works). A request proves its role with ``Authorization: Bearer <token>`` or, for the page, with the
``minewatch_token`` cookie set by ``POST /login``. Tokens are compared in constant time and never
logged: the actor recorded in audit entries is the role plus a short SHA-256 fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from fastapi import Request

from minewatch.api.errors import Unauthenticated
from minewatch.api.security import FailedLogins
from minewatch.errors import ConfigError

ROLES = ("operator", "inspector", "admin")
COOKIE = "minewatch_token"
#: Shortest token accepted; anything guessable defeats the point of having roles.
MIN_TOKEN_LEN = 16


@dataclass(frozen=True)
class Principal:
    role: str
    fingerprint: str

    @property
    def actor(self) -> str:
        """How this caller appears in audit records and events (never the token itself)."""
        return f"{self.role}#{self.fingerprint}"


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:8]


class TokenTable:
    """The tokens this process accepts, by role."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = [(role, tok.encode()) for role, tok in pairs]

    @classmethod
    def parse(cls, text: str, source: str) -> TokenTable:
        """Parse ``role:token,role:token``; errors name the entry by position and never echo a token
        (they end up in logs)."""
        problems: list[str] = []
        pairs: list[tuple[str, str]] = []
        entries = [e.strip() for e in text.split(",") if e.strip()]
        for i, entry in enumerate(entries, start=1):
            role, sep, token = entry.partition(":")
            role, token = role.strip(), token.strip()
            if not sep:
                problems.append(f"{source}: entry {i}: expected 'role:token'")
            elif role not in ROLES:
                problems.append(
                    f"{source}: entry {i}: unknown role {role!r}; "
                    f"expected one of {', '.join(ROLES)}"
                )
            elif len(token) < MIN_TOKEN_LEN:
                problems.append(
                    f"{source}: entry {i} ({role}): token shorter than {MIN_TOKEN_LEN} characters"
                )
            else:
                pairs.append((role, token))
        if not entries:
            problems.append(
                f"{source}: no tokens; set it to e.g. "
                "'operator:<token>,inspector:<token>,admin:<token>'"
            )
        if problems:
            raise ConfigError(problems)
        return cls(pairs)

    @classmethod
    def from_env(cls, env_name: str) -> TokenTable:
        value = os.environ.get(env_name)
        if value is None:
            raise ConfigError(
                [
                    f"environment variable {env_name} is not set; the API needs 'role:token' pairs "
                    f"(roles {', '.join(ROLES)}), e.g. {env_name}=admin:$(openssl rand -hex 24)"
                ]
            )
        return cls.parse(value, f"environment variable {env_name}")

    @classmethod
    def generate(cls) -> tuple[TokenTable, dict[str, str]]:
        """Fresh random tokens for every role (the demo prints them; nothing is stored)."""
        tokens = {role: secrets.token_urlsafe(24) for role in ROLES}
        return cls(list(tokens.items())), tokens

    def principal(self, token: str) -> Principal | None:
        candidate = token.encode()
        found: str | None = None
        for role, tok in self._pairs:  # no early exit: time does not depend on which token matched
            if hmac.compare_digest(candidate, tok):
                found = role
        return Principal(found, fingerprint(token)) if found else None


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    return request.cookies.get(COOKIE) or None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_token(
    request: Request, tokens: TokenTable, limiter: FailedLogins, token: str
) -> Principal | None:
    """The principal ``token`` proves, or None (counted against the caller's address); 429 while
    that address has too many recent failures."""
    address = client_address(request)
    limiter.check(address)
    principal = tokens.principal(token)
    if principal is None:
        limiter.failed(address)
    return principal


def authenticate(request: Request, tokens: TokenTable, limiter: FailedLogins) -> Principal:
    """The caller (also kept on ``request.state`` for the access log), or 401 saying what was
    missing or wrong."""
    token = presented_token(request)
    if token is None:
        raise Unauthenticated(
            "missing bearer token (send 'Authorization: Bearer <token>' or log in at /login)",
            challenge="Bearer",
        )
    principal = check_token(request, tokens, limiter, token)
    if principal is None:
        raise Unauthenticated("token not recognised", challenge='Bearer error="invalid_token"')
    request.state.principal = principal
    return principal
