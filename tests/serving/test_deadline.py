"""A slow client holds no connection (issue 32, item 7): from a request's first byte, its head and
body must arrive within REQUEST_READ_SECONDS, or it gets a 408 and the connection is closed; a
connection that never sends a byte is closed as an idle keep-alive one is. Against a real uvicorn
with each of its HTTP/1.1 protocols, on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from services.local import process
from services.registry import Version
from services.serving.app import create_app
from services.serving.deadline import protocol
from services.serving.settings import Settings

from .factories import sample

READ_SECONDS = 0.3
GUARD_SECONDS = 20  # a socket read that waits longer than this means the server never closed


class NoModel:
    """A loader whose alias is unset: the app runs and answers 503 to a complete request."""

    def resolve(self, name: str, alias: str) -> Version | None:
        return None

    def load(self, ref: Version) -> object:
        raise AssertionError("nothing to load")


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[int, CollectorRegistry]]:
    port = process.free_port()
    registry = CollectorRegistry()
    settings = Settings(request_read_seconds=READ_SECONDS, keep_alive_seconds=1)
    app = create_app(settings, NoModel(), registry)  # type: ignore[arg-type]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=protocol(READ_SECONDS, request.param),  # type: ignore[arg-type]
        timeout_keep_alive=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    process.wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=30, name="api")
    yield port, registry
    server.should_exit = True
    thread.join(timeout=10)


def exchange(port: int, sent: bytes) -> bytes:
    """Send `sent`, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS) as conn:
        conn.sendall(sent)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


HEAD = b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"


def test_a_head_that_stops_midway_gets_408_and_is_closed(
    server: tuple[int, CollectorRegistry],
) -> None:
    answer = exchange(server[0], HEAD)  # no blank line: the head never ends
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"REQUEST_READ_SECONDS" in answer


def test_a_body_that_stops_midway_gets_408_and_is_closed(
    server: tuple[int, CollectorRegistry],
) -> None:
    port, registry = server
    answer = exchange(port, HEAD + b"content-length: 100\r\n\r\n" + b'{"horizon": ')
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    labels = {"handler": "/predict", "method": "POST", "status": "408"}
    assert sample(registry, "http_requests_total", labels) >= 1


def test_a_connection_that_sends_nothing_is_closed(server: tuple[int, CollectorRegistry]) -> None:
    assert exchange(server[0], b"") == b""


def test_a_whole_request_is_answered_and_the_connection_kept(
    server: tuple[int, CollectorRegistry],
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
    answer = exchange(server[0], request + request)  # two on one connection, then idle
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer
    assert b"408" not in answer
