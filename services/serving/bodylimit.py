"""The request-body limit (`MAX_BODY_BYTES`), answered so that every client reads its 413.

Closing a connection whose request body is still arriving makes the kernel reset it, and most
clients (Python's urllib and requests among them) send the whole body before they read a byte
of the answer: they see "connection reset by peer", never the 413. So before any answer goes
out, what is left of the body is read and thrown away, at most `MAX_DISCARD_BYTES` past the
limit; a body longer than that gets its 413 at once with `Connection: close`, so the server
never reads an unbounded body (a client still sending then sees the reset). The same holds for
an answer given without reading the body (a 404, a 401): the body is read, up to the limit, and
one over it gets the 413 instead. A body announced by a Content-Length within the limit (most
requests) needs none of this: the server frames it by that length and, when an answer leaves it
unread, reads and drops the rest itself, keeping the connection.
"""

from __future__ import annotations

from typing import Final

import orjson
from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.serving.protocol import JSON

_CLOSE: Final = (b"connection", b"close")


def detail(limit: int) -> str:
    """The 413's `detail`, the one sentence every oversized body gets."""
    return f"request body over the limit of {limit} bytes (MAX_BODY_BYTES); send a smaller body"


class BodyTooLarge(HTTPException):
    """Raised to the app by `receive` once the body passes the limit. An `HTTPException`, so
    FastAPI's body parsing lets it through instead of making it a 400; whatever the app answers
    to it, `BodyLimit` sends its own 413 in place of that answer."""

    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, detail(limit))


class BodyLimit:
    """Pure ASGI middleware: `limit` bytes of body at most, `discard` more read and dropped."""

    def __init__(self, app: ASGIApp, limit: int, discard: int) -> None:
        self.app = app
        self.limit = limit
        self.discard = discard
        self.answer = orjson.dumps({"detail": detail(limit)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._within(scope["headers"]):
            await self.app(scope, receive, send)
            return
        body = _Body(scope, receive, self.limit, self.discard)
        replaced = False  # the app's answer was swapped for the 413: drop the rest of it
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal replaced, started
            if message["type"] == "http.response.start":
                started = True
                await body.drain()
                if body.over:
                    replaced = True
                    await self._too_large(send, body.complete)
                    return
                if not body.complete:  # the rest of the body is never read: do not wait for it
                    message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            if not replaced:
                await send(message)

        try:
            await self.app(scope, body.receive, guarded_send)
        except BodyTooLarge:
            if started:
                if replaced:
                    return
                raise
            await body.drain()
            await self._too_large(send, body.complete)

    def _within(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """A body announced by its length within the limit: the server frames the body by that
        length, so it cannot grow past it, and an answer that leaves it unread keeps the
        connection (the server reads and drops the rest): nothing to guard (most requests)."""
        length = None
        for key, value in headers:
            if key == b"transfer-encoding":
                return False
            if key == b"content-length":
                length = value
        return length is not None and length.isdigit() and int(length) <= self.limit

    async def _too_large(self, send: Send, complete: bool) -> None:
        headers = [(b"content-type", JSON.encode()), (b"content-length", b"%d" % len(self.answer))]
        if not complete:
            headers.append(_CLOSE)
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": self.answer})


class _Body:
    """One request's body as the app reads it: counted, cut off at the limit, and drained."""

    def __init__(self, scope: Scope, receive: Receive, limit: int, discard: int) -> None:
        headers = dict(scope["headers"])
        raw = headers.get(b"content-length", b"")
        self.length = int(raw) if raw.isdigit() else None
        self.expects_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        chunked = b"transfer-encoding" in headers
        self.complete = not chunked and not self.length  # nothing (more) to come
        self.asked = False  # the body was asked for (which sends a 100 Continue when expected)
        self.received = 0
        self._receive = receive
        self.limit = limit
        self.bound = limit + discard

    @property
    def over(self) -> bool:
        return self.received > self.limit or (self.length or 0) > self.limit

    async def receive(self) -> Message:
        """The app's `receive`: raises `BodyTooLarge` once the body is known to pass the limit."""
        if self.over:
            raise BodyTooLarge(self.limit)
        message = await self._next()
        if self.over:
            raise BodyTooLarge(self.limit)
        return message

    async def drain(self) -> None:
        """Read and drop the rest of the body, so that a client still sending it can finish and
        read the answer; at most up to the bound, and nothing a client has not been asked for."""
        if self.length is not None and self.length > self.bound:
            return  # too much to wait for: answer now and close
        if self.expects_continue and not self.asked:
            return  # the client waits for a 100 Continue before it sends: it never will be sent
        while not self.complete and self.received <= self.bound:
            await self._next()

    async def _next(self) -> Message:
        self.asked = True
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        else:  # the client went away: nothing more will come
            self.complete = True
        return message
