"""The app factory: settings, model follower, metrics and routes wired into one FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry

from services.serving.bodylimit import BodyLimit
from services.serving.deps import guard
from services.serving.fastpath import FastPath
from services.serving.follower import Follower
from services.serving.holder import ModelHolder
from services.serving.loader import MlflowLoader, ModelLoader
from services.serving.metrics import build_metrics
from services.serving.middleware import MetricsMiddleware
from services.serving.modelcache import ModelCache
from services.serving.ratelimit import RateLimit, TokenBuckets, networks
from services.serving.routers import docs, health, invocations, metrics, model, predict, series
from services.serving.settings import Settings


def create_app(
    settings: Settings | None = None,
    loader: ModelLoader | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """A serving app that follows `settings.model_name@settings.model_alias` while it runs."""
    settings = settings or Settings()
    loader = loader or MlflowLoader(settings.mlflow_tracking_uri)
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
    # Prediction routes take the token when one is set; health, readiness and metrics never do.
    guarded = [Depends(guard)] if settings.token else []
    app.include_router(predict.router, dependencies=guarded)
    app.include_router(invocations.router, dependencies=guarded)
    app.include_router(model.router)
    app.include_router(series.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    docs.mount(app)
    hot = (*predict.router.routes, *invocations.router.routes)
    routes = {r.path: r for r in hot if isinstance(r, APIRoute)}
    # In front of the routes: a body over the limit gets a 413 every client can read. The fast
    # path needs none of it: it admits only a Content-Length within the limit and reads it whole.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, discard=settings.max_discard_bytes)
    # Most requests never reach the routes above: the fast path answers valid forecasts first.
    app.add_middleware(FastPath, settings=settings, holder=holder, routes=routes)
    if settings.rate_limit_per_minute:  # before both paths, after the request metrics
        buckets = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        trusted = networks(settings.rate_limit_trusted_proxies)
        app.add_middleware(RateLimit, buckets=buckets, trusted=trusted)
    app.add_middleware(MetricsMiddleware, metrics=holder.metrics)  # outermost: counts both paths
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body, made safe to encode: what the client sent is echoed back, and a NaN or
    a 100-digit integer in it must not turn the 422 into a 500."""
    assert isinstance(exc, RequestValidationError)
    body = orjson.dumps({"detail": _encodable(jsonable_encoder(exc.errors()))})
    return Response(body, status_code=422, media_type="application/json")


def _encodable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _encodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return str(value)
    return value
