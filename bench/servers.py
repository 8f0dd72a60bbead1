"""The processes a benchmark runs: the MLflow tracking server, our API, `mlflow models serve`
and the constant-body floor, each started cold and timed to its first successful prediction."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.load import Request
from contract.api import API, PROD_ALIAS, ApiEnv
from services.local import process
from services.local.state import PGRP, proc_stat


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    cold_start_s: float = 0.0

    def request(self, path: str, body: bytes) -> Request:
        return Request("127.0.0.1", self.port, path, body)

    def rss_mb(self) -> float:
        """Resident memory of the whole process group (a CLI that forks a server counts both)."""
        return round(group_rss_kb(self.proc.pid) / 1024, 1)


def group_rss_kb(pgid: int) -> int:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(entry.name)
        if stat is None or int(stat[PGRP]) != pgid:
            continue
        with contextlib.suppress(OSError, ValueError):
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def post(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for_prediction(
    server: Server, path: str, body: bytes, started: float, timeout: float = 180.0
) -> float:
    """Seconds from `started` to the first 200 on `path`; raises if the process dies first."""
    url = f"http://127.0.0.1:{server.port}{path}"
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with code {server.proc.returncode}")
        with contextlib.suppress(OSError):
            if post(url, body, timeout=5)[0] == 200:
                return time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError(f"{server.name} gave no successful prediction within {timeout:.0f}s")


def start_tracking(root: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """A real MLflow server on SQLite with the artifact proxy, as the local stack runs it."""
    return process.start_tracking_server(root)


def _popen(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_api(logs: Path, tracking_uri: str, model: str, settings: ApiEnv | None = None) -> Server:
    """`mlstack serve` from its spec: one worker, uvloop + httptools, no access log; `settings`
    over the bench's own."""
    port = process.free_port()
    env = ApiEnv(
        host="127.0.0.1",
        port=port,
        mlflow_tracking_uri=tracking_uri,
        model_name=model,
        model_alias=PROD_ALIAS,
        log_level="warning",
    )
    out = open(logs / f"api-{port}.log", "ab")  # noqa: SIM115 - lives as long as the process
    return Server(
        "api", process.start(API, (env | (settings or ApiEnv())).to_env(), stdout=out), port
    )


def start_mlflow_serve(logs: Path, tracking_uri: str, model: str) -> Server:
    port = process.free_port()
    mlflow = process.executable("mlflow") or "mlflow"
    argv = [
        mlflow, "models", "serve", "-m", f"models:/{model}@prod", "--env-manager", "local",
        "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    # It runs `uvicorn` from PATH, so this environment's scripts go first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    proc = _popen(argv, env, logs / "mlflow-serve.log")
    return Server("mlflow models serve", proc, port)


def start_floor(logs: Path, body_file: Path) -> Server:
    port = process.free_port()
    argv = [sys.executable, "-m", "bench.floor", str(port), str(body_file)]
    return Server("floor", _popen(argv, {}, logs / "floor.log"), port)


@contextlib.contextmanager
def cold(launch: Callable[[], Server], path: str, body: bytes) -> Iterator[Server]:
    """Start a server and yield it once `path` answers 200, with the time from just before
    the process started to that first success recorded; stop it (and its children) after."""
    started = time.perf_counter()
    server = launch()
    try:
        server.cold_start_s = round(wait_for_prediction(server, path, body, started), 2)
        yield server
    finally:
        process.stop(server.proc)
