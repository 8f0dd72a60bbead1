"""The hot path: the requests this API exists for, answered in plain ASGI.

A well-formed JSON forecast request to `POST /predict` or `POST /invocations`, with a model loaded
and (when a token is set) `Authorization: Bearer <token>`, is answered here from the forecast
cache, before FastAPI's routing, dependency injection and request objects, which cost more than
the cached answer itself (`make bench` measures both). Anything else, and so every error, goes on
to the FastAPI routes with its body, which keeps one source for each error answer: the route.
The routes answer valid requests with the same functions, so both paths give the same bytes.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping

import orjson
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.serving.holder import ModelHolder, Served
from services.serving.protocol import JSON, Row, fast_rows, join_predictions
from services.serving.settings import Settings

Answer = Callable[[Served, bytes], Awaitable[bytes | None]]
PREDICT_KEYS = frozenset({"horizon", "level"})


async def predict_body(
    holder: ModelHolder, served: Served, horizon: int, level: float | None
) -> bytes | None:
    """The `/predict` answer; None when the forecast is not finite (the route answers 422)."""
    forecast = await served.forecast(horizon, level)
    if not forecast.finite:
        return None
    holder.metrics.horizon.observe(horizon)
    # Both parts are JSON serialised once (at load and on the cache miss); joining is enough.
    return b'{"model":' + served.model_json + b',"forecast":' + forecast.body + b"}"


async def invocations_body(holder: ModelHolder, served: Served, rows: list[Row]) -> bytes:
    """The `/invocations` answer to plain forecast rows: MLflow's records, row after row."""
    bodies = [(await served.forecast(*row)).body for row in rows]
    for horizon, _ in rows:
        holder.metrics.horizon.observe(horizon)
    return join_predictions(bodies)


def predict_row(body: bytes, max_horizon: int) -> Row | None:
    """(horizon, level) of a `/predict` body that `PredictRequest` accepts as it is, else None
    (strict types only: whatever pydantic would coerce or refuse is the route's to answer)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or "horizon" not in payload or payload.keys() - PREDICT_KEYS:
        return None
    horizon, level = payload["horizon"], payload.get("level")
    if type(horizon) is not int or not 1 <= horizon <= max_horizon:
        return None
    if level is not None and (type(level) is not float or not 0.0 < level < 1.0):
        return None
    return horizon, level


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
        self.authorization = b"Bearer " + settings.token if settings.token else None
        self.answers: dict[str, Answer] = {
            "/predict": self._predict,
            "/invocations": self._invocations,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.answers.get(scope["path"]) if scope["type"] == "http" else None
        served = self.holder.current
        if answer is None or served is None or not self._admits(scope):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:
            return  # the client went away before sending its body: nobody to answer
        payload = await answer(served, body)
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
        if headers.get(b"content-type") not in JSON_TYPES:
            return False
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or int(length) > self.max_body:
            return False
        if self.authorization is None:
            return True
        return hmac.compare_digest(headers.get(b"authorization", b""), self.authorization)

    async def _predict(self, served: Served, body: bytes) -> bytes | None:
        row = predict_row(body, self.max_horizon)
        return None if row is None else await predict_body(self.holder, served, *row)

    async def _invocations(self, served: Served, body: bytes) -> bytes | None:
        rows = fast_rows(body, JSON, self.max_horizon)
        return None if rows is None else await invocations_body(self.holder, served, rows)


JSON_TYPE = JSON.encode()
JSON_TYPES = frozenset({JSON_TYPE, b"application/json; charset=utf-8"})


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
