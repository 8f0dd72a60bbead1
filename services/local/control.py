"""The stack in the background: `up --detach`, `down` and `status`, all through the state file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from contract.api import TOKEN_ENV
from contract.tracking import READER
from services.local import credentials, process
from services.local.config import LocalConfig
from services.local.served import served_model
from services.local.state import ServiceEntry, StackState, is_supervisor
from services.local.supervisor import GAVE_UP, UP
from services.registry import Connection

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
    return [*args, "--max-restarts", str(cfg.max_restarts)]


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
    """Each service's state, restarts and URL, and the model served now; 0 when all are up."""
    state = StackState.load(state_dir)
    if state is None or not is_supervisor(state.pid):
        console.write(f"no stack is running from {state_dir}\n")
        return 1
    shown = [(entry, _state(entry)) for entry in state.services]
    width = max(len(entry.name) for entry in state.services)
    for entry, now in shown:
        restarts = f"restarts {entry.restarts}" if entry.restarts else ""
        console.write(f"  {entry.name:<{width}}  {now:<10}  {restarts:<11}  {entry.url or ''}\n")
    urls = {entry.name: entry.url for entry in state.services}
    made = credentials.load_or_create(state_dir)
    reader = Connection(username=READER, password=made.reader_password)
    model = served_model(urls.get("api"), urls.get("mlflow"), state.model_name, reader)
    console.write(f"  {'model':<{width}}  {model}\n")
    for entry, now in shown:
        if now == GAVE_UP:
            log = state_dir / "logs" / f"{entry.name}.log"
            console.write(f"  gave up on {entry.name}: read its log with `tail -n 50 {log}`\n")
    console.write(f"  supervisor pid {state.pid}, state {state.status}\n")
    return 0 if state.status == "up" and all(now == UP for _, now in shown) else 1


def _state(entry: ServiceEntry) -> str:
    """The supervisor's word for the service, or, for one it holds up, whether it is ready."""
    if entry.state != UP:
        return entry.state
    return UP if entry.ready_url is None or process.answers(entry.ready_url) else "DOWN"
