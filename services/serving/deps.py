"""Dependencies shared by the routers: the served model and the optional bearer token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.serving.holder import ModelHolder, Served
from services.serving.settings import Settings

# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in the thread
# pool, and three thread hops per request cost more than the whole cached answer.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_holder(request: Request) -> ModelHolder:
    return request.app.state.holder


def not_loaded(settings: Settings) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"model not loaded: no version of {settings.model_name}@{settings.model_alias} "
        "is being served yet; retry later",
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


async def get_served(request: Request) -> Served:
    """The version this request uses to the end, whatever swaps happen meanwhile."""
    served = request.app.state.holder.current
    if served is None:
        raise not_loaded(request.app.state.settings)
    return served


def credentials(authorization: bytes | None) -> bytes:
    """The bearer credentials of an `Authorization` header (the scheme in any case, as HTTP
    allows); empty for another scheme or no header."""
    scheme, _, given = (authorization or b"").partition(b" ")
    return given.strip() if scheme.lower() == b"bearer" else b""


def require_token(authorization: bytes | None, expected: bytes | None) -> None:
    """The one token check, for the fast path and the routes alike: 401 unless the header
    carries the configured token (compared in constant time); nothing to check without one."""
    if expected is None:
        return
    if not hmac.compare_digest(credentials(authorization), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token: send 'Authorization: Bearer <API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


# Declares the scheme in the OpenAPI document; the check itself is `require_token`.
_bearer = HTTPBearer(auto_error=False, description="The API_TOKEN the server was started with.")


async def guard(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The prediction routes' dependency: `require_token` on the request's header."""
    header = request.headers.get("authorization")
    raw = header.encode("latin-1") if header is not None else None
    require_token(raw, request.app.state.settings.token)


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ServedDep = Annotated[Served, Depends(get_served)]
