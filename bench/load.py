"""Load generators: wrk (Debian's, when on PATH) or a bounded asyncio one, behind one call.

Both send the same pre-built request over keep-alive loopback connections, stop at a request
count or a duration (whichever comes first), and report the same `LoadResult`.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

Observer = Callable[[float, int, bytes], None]  # (monotonic time, status, body) per response


@dataclass(frozen=True)
class Request:
    host: str
    port: int
    path: str
    body: bytes
    method: str = "POST"
    content_type: str = "application/json"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def wire(self) -> bytes:
        """The HTTP/1.1 request bytes, sent as is on every keep-alive round trip."""
        head = (
            f"{self.method} {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {self.content_type}\r\nContent-Length: {len(self.body)}\r\n\r\n"
        )
        return head.encode() + self.body


@dataclass(frozen=True)
class LoadResult:
    tool: str
    concurrency: int
    requests: int
    errors: int  # non-2xx answers, socket errors and timeouts
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def median_result(results: list[LoadResult]) -> LoadResult:
    """The run with the median throughput (a real run, not a blend of several)."""
    ranked = sorted(results, key=lambda r: r.rps)
    return ranked[(len(ranked) - 1) // 2]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(
    request: Request, concurrency: int, seconds: float, max_requests: int = 1_000_000
) -> LoadResult:
    """wrk when installed (it bounds by time), else the asyncio generator (time and count)."""
    if have_wrk():
        return run_wrk(request, concurrency, seconds)
    return asyncio.run(drive(request, concurrency, seconds, max_requests))


# --- wrk -------------------------------------------------------------------------------------

_LUA = """
wrk.method = "{method}"
wrk.headers["Content-Type"] = "{content_type}"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_script(request: Request) -> str:
    body = request.body.decode()
    if "]==]" in body:
        raise ValueError("request body cannot be embedded in a Lua long string")
    return _LUA.format(method=request.method, content_type=request.content_type, body=body)


def parse_wrk(stdout: str, concurrency: int) -> LoadResult:
    """The `BENCH {...}` line our Lua `done` hook prints."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{stdout}")
    data = json.loads(line[len("BENCH ") :])
    seconds = data["duration_us"] / 1e6
    return LoadResult(
        tool="wrk",
        concurrency=concurrency,
        requests=data["requests"],
        errors=data["errors"],
        seconds=round(seconds, 3),
        rps=round(data["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=round(data["p50_us"] / 1000, 3),
        p99_ms=round(data["p99_us"] / 1000, 3),
    )


def run_wrk(request: Request, concurrency: int, seconds: float) -> LoadResult:
    threads = min(2, concurrency)  # two cores: one wrk thread per core at most
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.lua"
        script.write_text(wrk_script(request))
        argv = [
            "wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", str(script), request.url,
        ]  # fmt: skip
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=True
        )
    return parse_wrk(done.stdout, concurrency)


# --- asyncio ---------------------------------------------------------------------------------


class Budget:
    """How many requests may still start, and until when; `stop()` ends a run early."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.left = limit
        self.deadline = time.monotonic() + seconds

    def stop(self) -> None:
        self.left = 0

    def take(self) -> bool:
        if self.left <= 0 or time.monotonic() >= self.deadline:
            return False
        self.left -= 1
        return True


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


async def _worker(
    request: Request, wire: bytes, budget: Budget, latencies: list[float], errors: list[int],
    observe: Observer | None, timeout: float,
) -> None:  # fmt: skip
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while budget.take():
        started = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.wait_for(
                    asyncio.open_connection(request.host, request.port), timeout
                )
            reader, writer = conn
            writer.write(wire)
            status, body, keep = await asyncio.wait_for(_read_response(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            errors.append(0)
            if conn is not None:
                conn[1].close()
            conn = None
            if observe is not None:
                observe(time.monotonic(), 0, b"")
            continue
        latencies.append(time.perf_counter() - started)
        if not 200 <= status < 400:
            errors.append(status)
        if observe is not None:
            observe(time.monotonic(), status, body)
        if not keep:
            writer.close()
            conn = None
    if conn is not None:
        conn[1].close()


async def drive(
    request: Request, concurrency: int, seconds: float, max_requests: int = 1_000_000,
    observe: Observer | None = None, timeout: float = 10.0, budget: Budget | None = None,
) -> LoadResult:  # fmt: skip
    """`concurrency` keep-alive connections sending `request` until the time or count runs out
    (or until `budget.stop()`, when the caller passes its own budget)."""
    budget = budget or Budget(max_requests, seconds)
    latencies: list[float] = []
    errors: list[int] = []
    wire = request.wire()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _worker(request, wire, budget, latencies, errors, observe, timeout)
            for _ in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    done = len(latencies) + sum(1 for e in errors if e == 0)
    return LoadResult(
        tool="python",
        concurrency=concurrency,
        requests=done,
        errors=len(errors),
        seconds=round(elapsed, 3),
        rps=round(done / elapsed, 1) if elapsed else 0.0,
        p50_ms=round(statistics.median(ordered) * 1000, 3) if ordered else 0.0,
        p99_ms=round(percentile(ordered, 99) * 1000, 3),
    )
