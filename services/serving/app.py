"""The app factory: settings, model follower, metrics and routes wired into one FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry

from services.serving.deps import require_token
from services.serving.follower import Follower
from services.serving.holder import ModelHolder
from services.serving.loader import MlflowLoader, ModelLoader
from services.serving.metrics import build_metrics
from services.serving.middleware import MetricsMiddleware
from services.serving.routers import health, invocations, metrics, model, predict
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
    holder = ModelHolder(build_metrics(registry), settings.forecast_cache_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        follower = Follower(settings, loader, holder)
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
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.holder = holder
    app.state.registry = registry
    # Prediction routes take the token when one is set; health, readiness and metrics never do.
    guarded = [Depends(require_token)] if settings.token else []
    app.include_router(predict.router, dependencies=guarded)
    app.include_router(invocations.router, dependencies=guarded)
    app.include_router(model.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_middleware(MetricsMiddleware, metrics=holder.metrics)
    return app
