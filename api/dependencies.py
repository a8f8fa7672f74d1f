"""What a route may ask FastAPI for, as ``Annotated`` aliases: the context, the live hub, the alert
state, the simulator, and the caller in a given role.

Routes declare ``ctx: Ctx`` or ``who: Operator`` instead of reaching into ``request.app.state``, so
the signature says what a route needs and a test can swap any of it with
``app.dependency_overrides[get_ctx]``. Everything downstream (authentication, the alert state) takes
the context through ``get_ctx`` too, so one override replaces it everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from minewatch.analyzer.state import AlertStore
from minewatch.api.auth import ROLES, Principal, authenticate, check_token, presented_token
from minewatch.api.context import ApiContext, FaultTarget
from minewatch.api.live import LiveHub
from minewatch.errors import MinewatchError, NotFound, PermissionDenied, StoreUnavailable

T = TypeVar("T")

NO_ALERT_STATE = "alert state is not available: no analyzer state database in this deployment"
NO_SIMULATOR = "no simulator runs in this process; faults can be injected only in `minewatch demo`"


def get_ctx(request: Request) -> ApiContext:
    """The context ``create_app`` built; override this to serve a route from another one."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]


def get_hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.hub
    return hub


Hub = Annotated[LiveHub, Depends(get_hub)]


def present(part: T | None, missing: MinewatchError) -> T:
    """``part``, or ``missing`` raised: the parts beside the API are optional per deployment."""
    if part is None:
        raise missing
    return part


def get_alert_store(ctx: Ctx) -> AlertStore:
    """The analyzer's alert state, or 503 when this deployment has none."""
    return present(ctx.alert_store, StoreUnavailable(NO_ALERT_STATE))


Alerts = Annotated[AlertStore, Depends(get_alert_store)]


def get_simulator(ctx: Ctx) -> FaultTarget:
    """The demo's simulated facility, or 404: no other deployment has faults to inject."""
    return present(ctx.faults, NotFound(NO_SIMULATOR))


Simulator = Annotated[FaultTarget, Depends(get_simulator)]


def require(*roles: str) -> Callable[[Request, ApiContext], Principal]:
    """Dependency: an authenticated caller whose role is one of ``roles`` (admin always passes)."""
    allowed = set(roles) | {"admin"}

    def caller(request: Request, ctx: Ctx) -> Principal:
        principal = authenticate(request, ctx.tokens, ctx.failed_logins)
        if principal.role not in allowed:
            raise PermissionDenied(
                f"role {principal.role!r} may not do this; "
                f"needs one of {', '.join(sorted(allowed))}"
            )
        return principal

    return caller


def optional_caller(request: Request, ctx: Ctx) -> Principal | None:
    """The caller when a valid token comes with the request, else None (no 401): for what anyone
    may read, such as the pages and their words. A wrong token still counts as a failed login."""
    token = presented_token(request)
    return None if token is None else check_token(request, ctx.tokens, ctx.failed_logins, token)


Reader = Annotated[Principal | None, Depends(optional_caller)]

#: Any authenticated role may read live data.
any_role = require(*ROLES)

Operator = Annotated[Principal, Depends(require("operator"))]
Inspector = Annotated[Principal, Depends(require("inspector"))]
Admin = Annotated[Principal, Depends(require("admin"))]
