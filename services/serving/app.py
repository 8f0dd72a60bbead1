"""The app factory: settings, model follower, metrics and routes wired into one FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute

from services.serving import echo
from services.serving.auth import Guard
from services.serving.bodylimit import BodyLimit
from services.serving.deps import bearer
from services.serving.door import Door
from services.serving.follower import Follower
from services.serving.holder import ModelHolder
from services.serving.loader import MlflowLoader, ModelLoader
from services.serving.metrics import build_metrics
from services.serving.middleware import MetricsMiddleware
from services.serving.modelcache import ModelCache
from services.serving.ratelimit import RateLimit, TokenBuckets, TrustedProxies
from services.serving.routers import (
    docs,
    health,
    history,
    invocations,
    metrics,
    model,
    predict,
    series,
)
from services.serving.schemas import UNAUTHORIZED
from services.serving.settings import Settings

# The routers behind the token (when one is set).
GUARDED = (predict.router, invocations.router, history.router, model.router, series.router)


def create_app(
    settings: Settings | None = None,
    loader: ModelLoader | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """A serving app that follows `settings.model_name@settings.model_alias` while it runs."""
    settings = settings or Settings()
    loader = loader or MlflowLoader(
        settings.mlflow_tracking_uri, allow_foreign=settings.allow_foreign_models
    )
    registry = registry if registry is not None else CollectorRegistry()
    holder = ModelHolder(build_metrics(registry), settings.forecast_cache_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cache = ModelCache(settings.model_cache_dir) if settings.model_cache_dir else None
        follower = Follower(settings, loader, holder, cache)
        task = asyncio.create_task(follower.run(), name="model-follower")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            holder.clear()

    app = FastAPI(
        title="mlflow-serving-stack forecasts",
        summary="Forecasts from the model at the registry alias, with MLflow's scoring protocol.",
        lifespan=lifespan,
        docs_url=None,  # served by routers/docs.py from local assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.holder = holder
    app.state.registry = registry
    doors = _routes(app, settings)
    _middleware(app, settings, holder, doors)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


def _routes(app: FastAPI, settings: Settings) -> dict[str, APIRoute]:
    """Every route; returns the forecast routes, which the door answers, by path. The routes
    the token guards are declared for the OpenAPI document with the bearer scheme when a token
    is set."""
    guarded = (
        APIRouter(dependencies=[Depends(bearer)], responses=UNAUTHORIZED)
        if settings.token
        else APIRouter()
    )
    for router in GUARDED:
        guarded.include_router(router)
    app.include_router(guarded)
    app.include_router(health.router)
    app.include_router(metrics.router)
    docs.mount(app)
    declared = (*predict.router.routes, *invocations.router.routes)
    return {r.path: r for r in declared if isinstance(r, APIRoute)}


def _protected(app: FastAPI) -> dict[str, BaseRoute]:
    """The paths the token guards, with their routes (the request metrics' handler label): the
    forecasts and histories, what is served, and the API's description (`/docs`,
    `/openapi.json`). The probes and `/metrics` stay open, for the kubelet and Prometheus inside
    the cluster."""
    found = [route for router in (*GUARDED, docs.router) for route in router.routes]
    found += [route for route in app.routes if getattr(route, "path", None) == app.openapi_url]
    return {route.path: route for route in found}  # type: ignore[attr-defined]


def _middleware(
    app: FastAPI, settings: Settings, holder: ModelHolder, doors: dict[str, APIRoute]
) -> None:
    """Innermost first: the door answers the forecast routes; the token is checked in front of
    it (the protected paths); in front of both, a body over the limit gets a 413 every client
    can read; then the rate limit, and outermost the request metrics, which count everything."""
    app.add_middleware(Door, settings=settings, holder=holder, routes=doors)
    if settings.token is not None:
        app.add_middleware(Guard, token=settings.token, protected=_protected(app))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, discard=settings.max_discard_bytes)
    if settings.rate_limit_per_minute:
        buckets = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        trusted = TrustedProxies(settings.rate_limit_trusted_proxies)
        app.add_middleware(RateLimit, buckets=buckets, trusted=trusted)
    app.add_middleware(MetricsMiddleware, metrics=holder.metrics)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body (its own routes' query parameters), made safe to encode: what the
    client sent is echoed back, cut short."""
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    shown = [{**e, "input": echo.value(e["input"])} if "input" in e else e for e in errors]
    body = orjson.dumps({"detail": shown})
    return Response(body, status_code=422, media_type="application/json")
