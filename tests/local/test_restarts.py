"""The supervisor's restart policy on stand-in services (real processes, the clock given): the
backoff, the count of failed restarts in a row, and giving up."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from contract.service import ServiceSpec
from services.local.config import LocalConfig
from services.local.signals import SignalGuard
from services.local.stack import Stack, Started
from services.local.supervisor import (
    GAVE_UP,
    RESTARTING,
    STABLE_SECONDS,
    STARTING,
    UP,
    Supervisor,
    backoff,
)


def crashing(code: int = 3) -> ServiceSpec:
    """A service that says so and exits with `code` at once, each time it is started."""
    script = f"print('crashing', flush=True); raise SystemExit({code})"
    return ServiceSpec(name="crasher", image="", extra="", args=("python", "-c", script))


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    stack = Stack(LocalConfig(state_dir=tmp_path).resolved(), SignalGuard(), io.StringIO())
    stack.cfg.logs.mkdir(parents=True)
    return stack


def console_of(stack: Stack) -> str:
    assert isinstance(stack.console, io.StringIO)
    return stack.console.getvalue()


def exited(started: Started) -> Started:
    started.proc.wait(timeout=30)
    return started


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    assert [backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_service_that_keeps_exiting_is_restarted_with_backoff_then_given_up_on(
    stack: Stack,
) -> None:
    started = exited(stack.launch(crashing(), {}))
    supervisor = Supervisor(stack, max_restarts=2, ready_timeout={})
    now = started.health.since
    supervisor.tick(now)
    assert (started.health.state, started.health.retry_at) == (RESTARTING, now + 1)
    supervisor.tick(now + 0.5)  # not due yet
    assert started.health.state == RESTARTING and started.health.restarts == 0
    supervisor.tick(now + 1)
    assert (started.health.state, started.health.restarts) == (STARTING, 1)
    exited(started)
    supervisor.tick(now + 1.5)
    assert (started.health.state, started.health.retry_at) == (RESTARTING, now + 3.5)  # 2 s
    supervisor.tick(now + 3.5)
    exited(started)
    supervisor.tick(now + 4)
    assert (started.health.state, started.health.restarts) == (GAVE_UP, 2)
    supervisor.tick(now + 1000)
    assert started.health.restarts == 2  # never started again
    said = console_of(stack)
    assert "crasher exited with code 3: restarting it in 1s (try 1 of 2)" in said
    assert "crasher exited with code 3: restarting it in 2s (try 2 of 2)" in said
    log = stack.cfg.logs / "crasher.log"
    gave_up = (
        "crasher exited with code 3, after 2 failed restarts in a row: giving up on it; the rest "
        f"of the stack runs on. Read its log with `tail -n 50 {log}`"
    )
    assert gave_up in said
    assert "    crashing" in said  # the tail of its own log comes with it
    assert [entry.state for entry in stack.state().services] == [GAVE_UP]


def test_a_service_that_ran_a_while_before_exiting_starts_a_new_count(stack: Stack) -> None:
    started = exited(stack.launch(crashing(), {}))
    supervisor = Supervisor(stack, max_restarts=1, ready_timeout={})
    started.health.failures = 1  # one restart used up ...
    supervisor.tick(started.health.since + STABLE_SECONDS + 1)  # ... long ago
    assert started.health.state == RESTARTING and started.health.failures == 1


def test_a_restarted_service_without_a_probe_counts_as_up_while_it_runs(stack: Stack) -> None:
    sleeper = ServiceSpec(
        name="sleeper", image="", extra="", args=("python", "-c", "import time; time.sleep(60)")
    )
    started = stack.launch(sleeper, {})
    supervisor = Supervisor(stack, max_restarts=1, ready_timeout={})
    started.proc.kill()
    exited(started)
    now = started.health.since
    supervisor.tick(now)
    supervisor.tick(now + 1)
    supervisor.tick(now + 1.5)
    assert (started.health.state, started.health.restarts) == (UP, 1)
    assert "sleeper was killed by SIGKILL: restarting it in 1s" in console_of(stack)
    assert "sleeper is up again (restart 1)" in console_of(stack)
    stack.stop()
