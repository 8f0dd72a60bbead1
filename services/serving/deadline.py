"""A deadline for reading each request (`REQUEST_READ_SECONDS`), which uvicorn does not have.

uvicorn closes a keep-alive connection that stays idle after a response (`KEEP_ALIVE_SECONDS`),
and nothing else: a new connection that sends nothing, or a request whose head or body trickles
in and stops, held a connection for as long as the client liked. Here each of uvicorn's HTTP/1.1
protocols (httptools, which `mlstack serve` runs, and h11) gets:

- on a new connection, uvicorn's own idle timer, as after a response: one that never sends a byte
  is closed as an idle keep-alive one is;
- from the end of the read that brought a request's first byte, one timer for its head and body
  together: when it fires before the body is in, the API answers 408 and closes the connection
  (if the app has already begun its answer, it only closes).

The timer is armed on the event loop only when a read ends with the request still incomplete:
nothing is wrapped around the app's `receive`, and a request that arrives whole in one read
(nearly every forecast request) never arms one (arming and cancelling cost 1.4 µs a request
here). A request cut off after its head arrived is already in the app, reading its body: the app
sees the client go away, and the request metrics count it as a 408 (`TIMED_OUT`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMED_OUT = "mlstack.read_timed_out"  # set in the scope of a request cut off by the deadline


def timeout_answer(seconds: float) -> bytes:
    """The 408 a request not read in time gets, then the connection closes."""
    detail = (
        f"request not received within {seconds:g} s of its first byte (REQUEST_READ_SECONDS): "
        "send the head and body without pausing"
    )
    body = orjson.dumps({"detail": detail})
    head = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    return head + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body


class _Deadline:
    """The deadline, for either uvicorn protocol: each names the cycle of the request whose
    head has been read and whose body is still being read (`_reading`)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    timeout_keep_alive: int
    timeout_keep_alive_task: asyncio.TimerHandle | None
    timeout_keep_alive_handler: Callable[[], None]
    read_seconds: float
    _answer: bytes
    _deadline: asyncio.TimerHandle | None = None

    def _reading(self) -> Any:
        raise NotImplementedError

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self._reading()
        if cycle is None or not cycle.response_started:
            if cycle is not None:  # the app waits for the rest of the body: it never comes
                cycle.scope[TIMED_OUT] = True
                cycle.disconnected = True
                cycle.message_event.set()
            self.transport.write(self._answer)
        self.transport.close()


class HttpToolsDeadline(_Deadline, HttpToolsProtocol):  # type: ignore[misc]
    """uvicorn's httptools protocol, with the read deadline."""

    def __init__(self, *args: Any, read_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_seconds = read_seconds
        self._answer = timeout_answer(read_seconds)
        self._head_read = False
        self._incomplete = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._incomplete:  # the rest is still to come: from now on it has read_seconds
            self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_read = False
        self._incomplete = True

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._head_read = True

    def on_message_complete(self) -> None:
        self._incomplete = False
        self._disarm()
        super().on_message_complete()

    def _reading(self) -> Any:
        return self.cycle if self._head_read else None


class H11Deadline(_Deadline, H11Protocol):  # type: ignore[misc]
    """uvicorn's h11 protocol, with the read deadline: h11 says where the request stands."""

    def __init__(self, *args: Any, read_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_seconds = read_seconds
        self._answer = timeout_answer(read_seconds)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()  # a pipelined request may have started meanwhile

    def _track(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY or (state is h11.IDLE and self.conn.trailing_data[0]):
            self._arm()
        else:
            self._disarm()

    def _reading(self) -> Any:
        return self.cycle if self.conn.their_state is h11.SEND_BODY else None


PROTOCOLS: dict[str, type[_Deadline]] = {"httptools": HttpToolsDeadline, "h11": H11Deadline}


def protocol(read_seconds: float, kind: str = "httptools") -> Callable[..., asyncio.Protocol]:
    """uvicorn's `http` argument: its protocol of that kind, with the deadline (a partial, so
    that worker processes can be given it)."""
    return functools.partial(PROTOCOLS[kind], read_seconds=read_seconds)  # type: ignore[return-value, call-arg]
