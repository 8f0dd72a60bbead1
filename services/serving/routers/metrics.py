"""`GET /metrics`: the app's own Prometheus registry in the text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus exposition (OpenMetrics when the scraper asks for it)."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(_registry(request)), media_type=content_type)


def _registry(request: Request) -> CollectorRegistry:
    if not request.app.state.settings.prometheus_multiproc_dir:
        return request.app.state.registry
    # Several workers (WORKERS > 1): sum what every worker wrote to the shared folder.
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    # The accuracy gauges are this worker's view of the served version, not in the shared files.
    registry.register(request.app.state.holder.metrics.accuracy)
    return registry
