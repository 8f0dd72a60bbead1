"""The load generators against a real local app (the floor), and the parsing around wrk."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from bench import load
from bench.floor import create_floor_app
from services.local import process
from tests.binaries import binary

BODY = b'{"predictions":[{"ds":"1961-01-01","yhat":1.0}]}'


@pytest.fixture(scope="module")
def floor() -> Iterator[int]:
    """The constant-body app on a loopback port, served by uvicorn in a thread."""
    port = process.free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_floor_app(BODY), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    process.wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=30, name="floor")
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_python_generator_stops_at_its_request_budget_and_sees_every_answer(floor: int) -> None:
    seen: list[tuple[int, bytes]] = []
    request = load.Request("127.0.0.1", floor, "/invocations", b"{}")
    result = asyncio.run(
        load.drive(
            request, 4, seconds=60, max_requests=200, observe=lambda _, s, b: seen.append((s, b))
        )
    )
    assert (result.requests, result.errors, result.concurrency) == (200, 0, 4)
    assert seen == [(200, BODY)] * 200
    assert 0 < result.p50_ms <= result.p99_ms


def test_python_generator_counts_non_2xx_answers_as_errors(floor: int) -> None:
    request = load.Request("127.0.0.1", floor, "/nowhere", b"{}")
    result = asyncio.run(load.drive(request, 2, seconds=60, max_requests=20))
    assert (result.requests, result.errors) == (20, 20)


def test_python_generator_counts_refused_connections_as_errors() -> None:
    request = load.Request("127.0.0.1", process.free_port(), "/invocations", b"{}")
    result = asyncio.run(load.drive(request, 1, seconds=60, max_requests=5, timeout=2))
    assert (result.requests, result.errors, result.p50_ms) == (5, 5, 0.0)


def test_a_stopped_budget_ends_the_run_before_its_time() -> None:
    budget = load.Budget(1_000, 3600)
    assert budget.take()
    budget.stop()
    assert not budget.take()


def test_wrk_run_reports_requests_without_errors(floor: int) -> None:
    binary("wrk")
    result = load.run_wrk(load.Request("127.0.0.1", floor, "/invocations", b"{}"), 2, 1)
    assert result.tool == "wrk"
    assert result.requests > 0 and result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms


def test_wrk_summary_line_is_read_into_a_result() -> None:
    summary = '{"requests":500,"duration_us":2000000,"errors":3,"p50_us":1500,"p99_us":9000}'
    out = f"Running 1s test\nBENCH {summary}\n"
    result = load.parse_wrk(out, 32)
    assert (result.requests, result.errors, result.rps, result.p50_ms, result.p99_ms) == (
        500,
        3,
        250.0,
        1.5,
        9.0,
    )


def test_wrk_output_without_a_summary_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no summary"):
        load.parse_wrk("Running 1s test\n", 1)


def test_wrk_script_embeds_the_body_and_refuses_one_that_would_end_the_string() -> None:
    script = load.wrk_script(load.Request("h", 1, "/invocations", b'{"n_periods": 30}'))
    assert '[==[{"n_periods": 30}]==]' in script and 'wrk.method = "POST"' in script
    with pytest.raises(ValueError, match="Lua"):
        load.wrk_script(load.Request("h", 1, "/", b"]==]"))


def test_request_bytes_are_a_complete_http_request() -> None:
    wire = load.Request("127.0.0.1", 8000, "/predict", b'{"horizon":1}').wire()
    head, body = wire.split(b"\r\n\r\n")
    assert head.startswith(b"POST /predict HTTP/1.1\r\n")
    assert b"Content-Length: 13" in head and body == b'{"horizon":1}'


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (
        load.percentile(values, 50),
        load.percentile(values, 99),
        load.percentile(values, 100),
    ) == (50, 99, 100)
    assert load.percentile([], 99) == 0.0


def test_the_median_run_is_a_real_run_not_a_blend() -> None:
    runs = [load.LoadResult("wrk", 1, n, 0, 1.0, float(n), 1.0, 2.0) for n in (30, 10, 20)]
    assert load.median_result(runs).requests == 20
