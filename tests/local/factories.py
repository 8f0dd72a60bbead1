"""Helpers for driving `mlstack up` as a real process and checking what it leaves behind."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from services.local.state import STATE, StackState, proc_stat

MLSTACK = str(Path(sys.executable).with_name("mlstack"))


def up_command(state_dir: Path, *extra: str) -> list[str]:
    """`mlstack up` on free ports, training only the fastest family (these tests need a model,
    not a good one)."""
    ports = [
        arg for name in ("mlflow", "api", "demo", "prometheus") for arg in (f"--{name}-port", "0")
    ]
    return [
        MLSTACK,
        "up",
        "--state-dir",
        str(state_dir),
        *ports,
        "--families",
        "seasonal_naive",
        *extra,
    ]


def wait_until_up(state_dir: Path, proc: subprocess.Popen[bytes], log: Path) -> StackState:
    """Wait until the stack reports every service ready; fail with its log if it exits first."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        state = StackState.load(state_dir)
        if state is not None and state.status == "up":
            return state
        if proc.poll() is not None:
            raise AssertionError(f"mlstack up exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.2)
    raise AssertionError(f"mlstack up never came up:\n{log.read_text()}")


def leftovers(state_dir: Path) -> list[str]:
    """Command lines of live processes that mention the state directory (MLflow's, Prometheus's
    and the supervisor's all do)."""
    needle = str(state_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        stat = proc_stat(entry.name)
        if needle in cmdline and stat is not None and stat[STATE] != "Z":
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found
