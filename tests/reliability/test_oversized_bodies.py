"""Bodies over MAX_BODY_BYTES sent by real Python clients (urllib, requests) to a real
`mlstack serve` over TCP: each client reads the documented 413, whatever the size and framing,
and the server never reads more than MAX_DISCARD_BYTES past the limit."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
import requests

from tests.api import RunningApi, running_api
from tests.conftest import TrackingServer

LIMIT = 64 * 1024  # the default MAX_BODY_BYTES
# The 413's body, as the README documents it.
ANSWER = {
    "detail": "request body over the limit of 65536 bytes (MAX_BODY_BYTES); send a smaller body"
}
JSON = {"content-type": "application/json"}
SIZES = {"70KB": 70_000, "5MB": 5_000_000, "50MB": 50_000_000}


@pytest.fixture(scope="module", autouse=True)
def healthy_after_all_that(open_api: RunningApi) -> Iterator[None]:
    """After the module's last test: still running and ready, no 5xx, no traceback."""
    yield
    open_api.assert_healthy()


def body_of(size: int) -> bytes:
    """A /predict request padded to `size` bytes (valid JSON, only too long)."""
    head, tail = b'{"horizon": 3, "pad": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def chunks_of(size: int) -> Iterator[bytes]:
    """The same body as `body_of`, in 64 KB pieces: sent chunked, with no Content-Length."""
    body = body_of(size)
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


def post_urllib(url: str, data: bytes | Iterable[bytes]) -> tuple[int, object]:
    """urllib's answer (status, JSON body); an iterable body goes chunked."""
    request = urllib.request.Request(url, data=data, headers=JSON, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post_requests(url: str, data: bytes | Iterable[bytes]) -> tuple[int, object]:
    """requests' answer (status, JSON body); an iterable body goes chunked."""
    response = requests.post(url, data=data, headers=JSON, timeout=120)
    return response.status_code, response.json()


Client = Callable[[str, bytes | Iterable[bytes]], tuple[int, object]]
CLIENTS: dict[str, Client] = {"urllib": post_urllib, "requests": post_requests}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_every_python_client_reads_the_413_of_a_body_over_the_limit(
    open_api: RunningApi, client: Client, size: int
) -> None:
    assert client(f"{open_api.url}/predict", body_of(size)) == (413, ANSWER)


@pytest.mark.parametrize("route", ["/predict", "/invocations"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_a_chunked_body_over_the_limit_gets_the_413_too(
    open_api: RunningApi, client: Client, route: str
) -> None:
    assert client(f"{open_api.url}{route}", chunks_of(5_000_000)) == (413, ANSWER)


def test_a_keep_alive_client_goes_on_after_a_413(open_api: RunningApi) -> None:
    with requests.Session() as session:
        first = session.post(f"{open_api.url}/predict", data=body_of(5_000_000), headers=JSON)
        second = session.post(f"{open_api.url}/predict", json={"horizon": 3})
    assert (first.status_code, second.status_code) == (413, 200)
    assert len(second.json()["forecast"]) == 3


def read_head(sock: socket.socket) -> bytes:
    """Bytes up to the end of a response's headers."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            break
        data += more
    return data


def test_a_client_waiting_for_100_continue_gets_the_413_without_sending_its_body(
    open_api: RunningApi,
) -> None:
    # curl and others ask first for big bodies; the 413 must come instead of "100 Continue".
    host, port = open_api.target.split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nhost: api\r\ncontent-type: application/json\r\n"
            b"content-length: 5000000\r\nexpect: 100-continue\r\n\r\n"
        )
        head = read_head(sock)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.lower()


@pytest.fixture(scope="module")
def small_discard_api(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: TrackingServer
) -> Iterator[RunningApi]:
    """An API that drops at most 1 MiB past the limit (no model needed: the limit comes first)."""
    folder: Path = tmp_path_factory.mktemp("discard")
    with running_api(
        folder, mlflow_server.uri, "no-such-model", MAX_DISCARD_BYTES=str(1 << 20)
    ) as api:
        yield api


def test_an_endless_body_is_cut_off_past_the_discard_bound(small_discard_api: RunningApi) -> None:
    host, port = small_discard_api.target.split(":")
    piece = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"  # 64 KiB chunks, forever
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nhost: api\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        with pytest.raises(OSError):  # reset or broken pipe: the server stopped reading
            while sent < 256 << 20:
                sock.sendall(piece)
                sent += len(piece)
    # 1 MiB discarded, plus what the two kernels' socket buffers held: far below 256 MiB.
    assert sent < 64 << 20
    with requests.get(f"{small_discard_api.url}/healthz", timeout=60) as response:
        assert response.status_code == 200
