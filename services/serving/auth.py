"""The optional bearer token (`API_TOKEN`), checked once per request, before anything about the
request's body, on every protected path."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

DETAIL = "missing or wrong bearer token: send 'Authorization: Bearer <API_TOKEN>'"


def credentials(authorization: bytes | None) -> bytes:
    """The bearer credentials of an `Authorization` header (the scheme in any case, as HTTP
    allows); empty for another scheme or no header."""
    scheme, _, given = (authorization or b"").partition(b" ")
    return given.strip() if scheme.lower() == b"bearer" else b""


def require_token(authorization: bytes | None, expected: bytes) -> bool:
    """Whether the header carries the configured token, compared in constant time."""
    return hmac.compare_digest(credentials(authorization), expected)


class Guard:
    """Pure ASGI middleware: a request to a protected path without the token gets 401, and
    nothing behind it runs. `protected` maps each path to its route (the request metrics'
    handler label); a path with parameters (`/series/{series_id:path}/history`) guards every
    path its route matches."""

    def __init__(self, app: ASGIApp, token: bytes, protected: Mapping[str, Any]) -> None:
        self.app = app
        self.token = token
        self.protected = protected
        self.patterns = [route for path, route in protected.items() if "{" in path]
        self.answer = orjson.dumps({"detail": DETAIL})

    def _route(self, path: str) -> Any:
        """The protected route of `path`; None for an open path."""
        found = self.protected.get(path)
        if found is None:
            found = next((r for r in self.patterns if r.path_regex.match(path)), None)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                header = value
        if require_token(header, self.token):
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(self.answer)),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": self.answer})
