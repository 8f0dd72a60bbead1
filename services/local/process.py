"""Start a service from its spec as a local process and wait until it is ready."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from contract.service import ServiceSpec
from contract.tracking import TRACKING
from contract.tracking import tracking_env as spec_tracking_env
from services.local.state import PGRP, STATE, proc_stat


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def _resolve(argv: list[str]) -> list[str]:
    """Run console scripts from this interpreter's environment, whatever PATH says."""
    local = Path(sys.executable).with_name(argv[0])
    return [str(local), *argv[1:]] if local.exists() else argv


def executable(name: str) -> str | None:
    """Where `name` would run from (this environment first, then PATH), or None if nowhere."""
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else shutil.which(name)


def start(
    spec: ServiceSpec,
    env: Mapping[str, str],
    stdout: IO[bytes] | int | None = None,
    stdin: IO[bytes] | int | None = None,
) -> subprocess.Popen[bytes]:
    """Start `spec` with `env` on top of this process's environment, in its own process group."""
    full_env = {**os.environ, **spec.env, **env}
    return subprocess.Popen(
        _resolve(spec.command(full_env)),
        env=full_env,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        start_new_session=True,
    )


class NotReady(RuntimeError):
    pass


def wait_ready(
    url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0, name: str = ""
) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise NotReady(f"{name or url} exited with code {proc.returncode} before it was ready")
        if answers(url):
            return
        time.sleep(0.1)
    raise NotReady(f"{name or url} was not ready after {timeout:.0f}s ({url})")


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether `url` answers 200 within `timeout` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it after `timeout`."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    _reap_group(proc.pid, timeout)


def _reap_group(pgid: int, timeout: float) -> None:
    """Workers a service forked (e.g. uvicorn's) can outlive the leader: end them too."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_exists(pgid):
            return
        signal_group(pgid, sig)
        deadline = time.monotonic() + timeout
        while group_exists(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def group_exists(pgid: int) -> bool:
    """Whether a live (not zombie) process of the process group `pgid` is still there."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    procfs = Path("/proc")
    if not procfs.is_dir():
        return True  # no procfs (macOS): trust killpg(0)
    # An init that reaps slowly (some containers) leaves killed members as zombies for a while.
    return any(_live_member(entry, pgid) for entry in procfs.iterdir() if entry.name.isdigit())


def _live_member(entry: Path, pgid: int) -> bool:
    stat = proc_stat(entry.name)
    return stat is not None and stat[STATE] != "Z" and int(stat[PGRP]) == pgid


def signal_group(pgid: int, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal a process group that may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tracking_env(
    root: Path, port: int, host: str = "127.0.0.1", store: str | None = None
) -> dict[str, str]:
    """A loopback MLflow server's variables: artifacts under `root`, and its registry in `store`
    (a PostgreSQL URI) or else SQLite under `root`."""
    return spec_tracking_env(
        host=host,
        port=port,
        backend_store_uri=store or f"sqlite:///{root / 'mlflow.db'}",
        artifacts_destination=str(root / "artifacts"),
        allowed_hosts=f"{host}:{port},localhost:{port}",
    )


def start_tracking_server(
    root: Path,
    port: int | None = None,
    timeout: float = 180.0,
    store: str | None = None,
    auth: Mapping[str, str] | None = None,
) -> tuple[str, subprocess.Popen[bytes]]:
    """A real MLflow server from `TRACKING` on loopback: artifacts under `root`, the registry in
    `store` or SQLite under `root`, behind authentication with `auth`'s variables
    (contract.tracking.auth_env). For tests and benchmarks; the local stack adds its own ports
    and logs."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "server.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = start(TRACKING, {**tracking_env(root, port, store=store), **(auth or {})}, stdout=log)
    uri = f"http://127.0.0.1:{port}"
    wait_ready(f"{uri}/health", proc, timeout=timeout, name="MLflow server")
    return uri, proc
