"""The hot path: the requests this API exists for, answered in plain ASGI.

A well-formed JSON forecast request to `POST /predict` or `POST /invocations`, with a model loaded
and (when a token is set) the bearer token, is answered here from the forecast cache, before
FastAPI's routing, dependency injection and request objects, which cost more than the cached
answer itself (`make bench` measures both). The request rules are `schemas.py`'s (`plain_row`,
`plain_series`, `series_error`), the token check is `deps.require_token` and the answer is
`answers.py`'s, as on the routes. Anything
else, and so every error, goes on to the FastAPI routes with its body, which keeps one source for
each error answer: the route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import orjson
from fastapi import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.serving import answers
from services.serving.deps import require_token
from services.serving.holder import ModelHolder, Served
from services.serving.protocol import JSON, JSON_TYPES, fast_rows, served_rows
from services.serving.schemas import NotPlain, Series, plain_row, plain_series, series_error
from services.serving.settings import Settings

Handler = Callable[[Served, bytes], Awaitable[bytes | None]]
PREDICT_KEYS = frozenset({"horizon", "level", "series"})
Predict = tuple[Series, int, float | None]  # (series, horizon, level) of a /predict body


def predict_row(body: bytes, max_horizon: int, max_series: int) -> Predict | None:
    """(series, horizon, level) of a `/predict` body that `PredictRequest` accepts as it is,
    else None (strict types only: whatever pydantic would coerce or refuse is the route's to
    answer)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or "horizon" not in payload or payload.keys() - PREDICT_KEYS:
        return None
    row = plain_row(payload["horizon"], payload.get("level"), max_horizon)
    series = plain_series(payload.get("series"), max_series)
    if row is None or isinstance(series, NotPlain):
        return None
    return series, *row


class FastPath:
    """ASGI middleware in front of the routes; `routes` maps each path to its route (the handler
    label of the request metrics)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        holder: ModelHolder,
        routes: Mapping[str, BaseRoute],
    ) -> None:
        self.app = app
        self.holder = holder
        self.routes = routes
        self.max_body = settings.max_body_bytes
        self.max_horizon = settings.max_horizon
        self.max_series = settings.max_series_per_request
        self.token = settings.token
        self.handlers: dict[str, Handler] = {
            "/predict": self._predict,
            "/invocations": self._invocations,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        served = self.holder.current
        if handler is None or served is None or not self._admits(scope):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:
            return  # the client went away before sending its body: nobody to answer
        payload = await handler(served, body)
        if payload is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.routes[scope["path"]]
        headers = [(b"content-length", str(len(payload)).encode()), (b"content-type", JSON_TYPE)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _admits(self, scope: Scope) -> bool:
        """A POST of JSON no longer than the limit, carrying the token when one is set."""
        if scope["method"] != "POST":
            return False
        headers = dict(scope["headers"])
        if headers.get(b"content-type") not in JSON_HEADERS:
            return False
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or int(length) > self.max_body:
            return False
        try:
            require_token(headers.get(b"authorization"), self.token)
        except HTTPException:
            return False  # the route answers the 401
        return True

    async def _predict(self, served: Served, body: bytes) -> bytes | None:
        row = predict_row(body, self.max_horizon, self.max_series)
        if row is None or series_error(row[0], served.series) is not None:
            return None
        series, horizon, level = row
        return await answers.predict(self.holder, served, horizon, level, series)

    async def _invocations(self, served: Served, body: bytes) -> bytes | None:
        rows = fast_rows(body, JSON, self.max_horizon)
        if rows is None or not served_rows(rows, served.series):
            return None
        return await answers.invocations(self.holder, served, rows)


JSON_TYPE = JSON.encode()
JSON_HEADERS = frozenset(t.encode() for t in JSON_TYPES)


async def _read(receive: Receive) -> bytes | None:
    """The whole request body (its length is checked already); None if the client disconnects."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the routes: the body already read, then whatever the client sends next."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
