"""Dependencies shared by the routers: the settings and the served model."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer

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


async def known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take: a typo (`?point=5`) is named in a 422,
    as an unknown field of a body is, instead of being ignored."""
    known = {param.alias for param in request.scope["route"].dependant.query_params}
    unknown = [key for key in request.query_params if key not in known]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", key),
                    "msg": f"Unknown query parameter; this route takes: {', '.join(sorted(known))}",
                    "input": request.query_params[key],
                }
                for key in unknown
            ]
        )


# Declares the scheme in the OpenAPI document of the protected routes; the check is `auth.Guard`.
bearer = HTTPBearer(auto_error=False, description="The API_TOKEN the server was started with.")

SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ServedDep = Annotated[Served, Depends(get_served)]
