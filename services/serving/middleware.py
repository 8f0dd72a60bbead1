"""HTTP metrics as pure ASGI middleware (not `BaseHTTPMiddleware`), so each request pays a few
calls. The body-size limit is `bodylimit.py`'s.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.serving.deadline import TIMED_OUT
from services.serving.metrics import Metrics

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "none"  # the handler label of any path no route matched: bounded cardinality


class MetricsMiddleware:
    """Counts and times each request by route template (`scope["route"]`), method and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before answering, the error handler answers 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.in_progress.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            if TIMED_OUT in scope:  # its body never came: the server answered 408
                status = 408
            metrics.in_progress.dec()
            route: Any = scope.get("route")
            handler = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            metrics.requests.labels(handler, method, str(status)).inc()
            metrics.duration.labels(handler, method).observe(elapsed)
