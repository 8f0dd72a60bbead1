"""The stack in the background: `up --detach`, `down` and `status`, all through the state file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from contract.api import TOKEN_ENV
from services.local import process
from services.local.config import LocalConfig
from services.local.state import StackState, is_supervisor

# Training on first start takes minutes; the supervisor's own readiness timeouts end a hang
# sooner, this only bounds waiting on a supervisor that neither finishes nor fails.
DETACH_TIMEOUT = 1800.0


def up_args(cfg: LocalConfig) -> list[str]:
    """The `mlstack up` command line that reproduces `cfg` in the background supervisor."""
    args = ["mlstack", "up", "--state-dir", str(cfg.state_dir), "--host", cfg.host]
    for name, port in cfg.ports.items():
        args += [f"--{name}-port", str(port)]
    args += ["--model-name", cfg.model_name, "--experiment", cfg.experiment, "--data", cfg.data_uri]
    if cfg.families:
        args += ["--families", cfg.families]
    return args


def detach(cfg: LocalConfig, console: TextIO = sys.stdout) -> int:
    """Start the supervisor in its own session, wait until the stack is up, print its table."""
    cfg = cfg.resolved()
    running = StackState.load(cfg.state_dir)
    if running and is_supervisor(running.pid):
        console.write(f"a stack is already running from {cfg.state_dir} (pid {running.pid})\n")
        console.write(running.table())
        return 1
    cfg.logs.mkdir(parents=True, exist_ok=True)
    log_path = cfg.logs / "up.log"
    with log_path.open("ab") as log:
        argv = [process.executable("mlstack") or "mlstack", *up_args(cfg)[1:]]
        # API_TOKEN travels in the environment, never on a command line `ps` shows.
        env = {TOKEN_ENV: cfg.api_token} if cfg.api_token else {}
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env},
        )
    try:
        state = _wait_up(cfg.state_dir, proc)
    except KeyboardInterrupt:
        state = None
    if state is None:
        if proc.poll() is None:  # gave up or Ctrl-C: the supervisor stops what it started
            proc.terminate()
            proc.wait()
        console.write(f"the stack did not come up; its log ({log_path}) ends with:\n")
        console.write(_tail(log_path))
        return 1
    console.write(state.table())
    console.write(f"logs: {cfg.logs}; stop it with `mlstack down`\n")
    return 0


def _wait_up(state_dir: Path, proc: subprocess.Popen[bytes]) -> StackState | None:
    deadline = time.monotonic() + DETACH_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        state = StackState.load(state_dir)
        if state and state.pid == proc.pid and state.status == "up":
            return state
        time.sleep(0.2)
    return None


def _tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text) + "\n"


def down(state_dir: Path, console: TextIO = sys.stdout, timeout: float = 60.0) -> int:
    """Ask the supervisor to stop the stack; stop leftovers of a dead supervisor directly."""
    state = StackState.load(state_dir)
    if state is None:
        console.write(f"no stack is running from {state_dir}\n")
        return 0
    if is_supervisor(state.pid):
        # The supervisor stops its services in order and removes the state file.
        os.kill(state.pid, signal.SIGTERM)
        _wait(lambda: is_supervisor(state.pid), timeout)
    for entry in state.services:  # only still there when the supervisor died uncleanly
        if entry.is_ours():
            _stop_group(entry.pid)
    StackState.clear(state_dir)
    console.write(f"stopped the stack from {state_dir}; its runs and models are kept\n")
    return 0


def _stop_group(pgid: int) -> None:
    if process.group_exists(pgid):
        process.signal_group(pgid, signal.SIGTERM)
        if not _wait(lambda: process.group_exists(pgid), 10.0):
            process.signal_group(pgid, signal.SIGKILL)


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    """Wait while `condition` holds; whether it stopped holding within `timeout`."""
    deadline = time.monotonic() + timeout
    while condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def status(state_dir: Path, console: TextIO = sys.stdout) -> int:
    """Each service's URL and whether it answers its readiness probe; 0 when all do."""
    state = StackState.load(state_dir)
    if state is None or not is_supervisor(state.pid):
        console.write(f"no stack is running from {state_dir}\n")
        return 1
    rows = [(entry.name, _probe(entry.ready_url), entry.url or "") for entry in state.services]
    width = max(len(name) for name, _, _ in rows)
    for name, ok, url in rows:
        console.write(f"  {name:<{width}}  {'up' if ok else 'DOWN':<4}  {url}\n")
    if state.model:
        console.write(f"  {'model':<{width}}        {state.model}\n")
    console.write(f"  supervisor pid {state.pid}, state {state.status}\n")
    return 0 if state.status == "up" and all(ok for _, ok, _ in rows) else 1


def _probe(url: str | None) -> bool:
    if url is None:
        return True
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
