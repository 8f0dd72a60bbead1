"""The front door of the forecast routes: `POST /predict` and `POST /invocations`, answered here
in plain ASGI, in front of FastAPI's routing, dependency injection and request objects (which
cost more than a cached answer: `make bench` measures it).

Each request is read once: the token was checked in front (`auth.Guard`) and the body's size
(`bodylimit.py`); here the body is read, the served version taken once for the whole request,
the body parsed once (`parse.py`) into the asks to answer or the problems to answer instead,
and the answer sent. Both routes' OpenAPI entries are declared in `routers/`; FastAPI answers
only the other methods there (405).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from services.serving import answers, echo, parse, protocol
from services.serving.deps import not_loaded
from services.serving.holder import ModelHolder, Served
from services.serving.parse import Problems
from services.serving.rules import ABSENT, Ask, Limits, Problem
from services.serving.settings import Settings

Answer = tuple[int, bytes, bytes]  # status, body, content type
Handler = Callable[[Scope, bytes, Served], Awaitable[Answer]]
JSON = parse.JSON.encode()


class Door:
    """ASGI middleware: answers POST to `routes`' paths (each mapped to its declared route, the
    request metrics' handler label); passes everything else on."""

    def __init__(
        self, app: ASGIApp, settings: Settings, holder: ModelHolder, routes: Mapping[str, Any]
    ) -> None:
        self.app = app
        self.holder = holder
        self.routes = routes
        self.limits = Limits.of(settings)
        unavailable = not_loaded(settings)
        self.unavailable = orjson.dumps({"detail": unavailable.detail})
        self.retry_after = str(settings.retry_after_seconds).encode()
        self.handlers: dict[str, Handler] = {
            "/predict": self._predict,
            "/invocations": self._invocations,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.routes[scope["path"]]
        body = await _read(receive)
        if body is None:
            return  # the client went away before sending its body: nobody to answer
        served = self.holder.current  # this request's version to the end, whatever swaps
        if served is None:
            retry = [(b"retry-after", self.retry_after)]
            await _send(send, (503, self.unavailable, JSON), retry)
            return
        await _send(send, await handler(scope, body, served))

    async def _predict(self, scope: Scope, body: bytes, served: Served) -> Answer:
        media = parse.media_type(_header(scope, b"content-type"))
        asks = parse.predict(body, media, self.limits, served.model)
        if isinstance(asks, Problems):
            if asks.status != 422:  # a body not read as JSON: no field to name
                detail = " ".join(problem.message for problem in asks.items)
                return asks.status, orjson.dumps({"detail": detail}), JSON
            return validation_error(asks.status, asks.items)
        answer = await answers.predict(self.holder, served, asks)
        if answer is None:  # e.g. level 0.9999999999999999: the bounds overflow to infinity
            return validation_error(422, (_unbounded(asks[0]),))
        return 200, answer, JSON

    async def _invocations(self, scope: Scope, body: bytes, served: Served) -> Answer:
        content_type = _header(scope, b"content-type")
        plan = parse.invocations(body, parse.media_type(content_type), self.limits, served.model)
        if isinstance(plan, Problems):
            return plan.status, protocol.error(plan.items), JSON
        if isinstance(plan, parse.Score):  # MLflow's own parsing, errors and all, off the loop
            kind = (content_type or b"").decode("latin-1")
            scored = await asyncio.to_thread(protocol.score, body, kind, served.model, self.limits)
            return scored.status, scored.body, scored.media_type.encode()
        return 200, await answers.invocations(self.holder, served, plan), JSON


def validation_error(status: int, problems: tuple[Problem, ...]) -> Answer:
    """FastAPI's validation error body (`{"detail": [{"type", "loc", "msg", "input"}]}`), which
    `/predict` documents."""
    detail = [_detail(problem) for problem in problems]
    return status, orjson.dumps({"detail": detail}), JSON


def _detail(problem: Problem) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": problem.kind,
        "loc": ["body", *problem.loc],
        "msg": problem.message,
    }
    if problem.given is not ABSENT:
        found["input"] = echo.value(problem.given)
    if problem.ctx:
        found["ctx"] = problem.ctx
    return found


def _unbounded(ask: Ask) -> Problem:
    """A forecast with NaN or infinite values: `/predict` answers strict JSON only."""
    _, horizon, level = ask
    field, given = ("level", level) if level is not None else ("horizon", horizon)
    message = (
        f"The forecast at this {field} is not finite (an interval bound overflows); "
        "ask for a lower level or a shorter horizon"
    )
    return Problem((field,), "value_error", message, given)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def _read(receive: Receive) -> bytes | None:
    """The whole request body (bounded by `bodylimit.py`); None if the client disconnects."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, answer: Answer, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    status, body, content_type = answer
    headers = [
        (b"content-length", b"%d" % len(body)),
        (b"content-type", content_type),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
