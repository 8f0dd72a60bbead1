"""Keeping the stack's services up once it is up: a service that exits is restarted with backoff
while the others run on; after `max_restarts` failed restarts in a row it is given up on, named
with its log, and the rest of the stack stays up.

A restart counts as failed when the service exits before it is ready again, or within
`STABLE_SECONDS` of being ready; one that then ran longer starts a new count.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.local import process
from services.local.logs import say

if TYPE_CHECKING:
    from services.local.stack import Stack, Started

UP, STARTING, RESTARTING, GAVE_UP = "up", "starting", "restarting", "gave up"
BACKOFF_FIRST, BACKOFF_CAP = 1.0, 30.0  # seconds before a restart: 1, 2, 4, ... at most 30
STABLE_SECONDS = 60.0


def backoff(failures: int) -> float:
    """Seconds to wait before restarting a service that failed `failures` times in a row."""
    return float(min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (failures - 1)))


@dataclass
class Health:
    """Where one service stands with the supervisor."""

    state: str = UP
    restarts: int = 0  # restarts since `mlstack up`
    failures: int = 0  # exits in a row, each before or soon after it was ready
    since: float = field(default_factory=time.monotonic)  # when it started, or got ready
    retry_at: float = 0.0  # when the next restart is due, while RESTARTING


def exit_words(code: int) -> str:
    """`exited with code 1`, or `was killed by SIGKILL` for a negative code."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exited with code {code}"


class Supervisor:
    """One `tick` looks at every long-running service once and moves it on; the stack's
    `watch` ticks it until a stop signal arrives."""

    def __init__(self, stack: Stack, max_restarts: int, ready_timeout: dict[str, float]) -> None:
        self.stack = stack
        self.max_restarts = max_restarts
        self.ready_timeout = ready_timeout

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        changed = [self._step(started, now) for started in list(self.stack.started)]
        if any(changed):
            self.stack.save("up")

    def _step(self, started: Started, now: float) -> bool:
        """Whether the service's state changed."""
        health = started.health
        if health.state == RESTARTING:
            if now < health.retry_at:
                return False
            self.stack.relaunch(started)
            health.state, health.since = STARTING, now
            health.restarts += 1
            return True
        if health.state not in (UP, STARTING):
            return False
        code = started.proc.poll()
        if code is not None:
            self._failed(started, exit_words(code), now)
            return True
        return health.state == STARTING and self._check_start(started, now)

    def _check_start(self, started: Started, now: float) -> bool:
        health, name = started.health, started.spec.name
        if started.ready_url is None or process.answers(started.ready_url, timeout=1.0):
            health.state, health.since = UP, now
            say(self.stack.console, f"{name} is up again (restart {health.restarts})")
            return True
        timeout = self.ready_timeout.get(name, 120.0)
        if now - health.since > timeout:
            self._failed(started, f"was not ready {timeout:.0f}s after its restart", now)
            return True
        return False

    def _failed(self, started: Started, what: str, now: float) -> None:
        health, name = started.health, started.spec.name
        process.stop(started.proc)  # what is left of its process group may still hold its port
        started.pump.join()
        soon = health.state == STARTING or now - health.since < STABLE_SECONDS
        health.failures = health.failures + 1 if soon else 1
        if health.failures > self.max_restarts:
            health.state = GAVE_UP
            log = self.stack.cfg.logs / f"{name}.log"
            say(
                self.stack.console,
                started.failure(
                    f"{name} {what}, after {self.max_restarts} failed restarts in a row: "
                    f"giving up on it; the rest of the stack runs on. Read its log with "
                    f"`tail -n 50 {log}`; `mlstack down`, then `mlstack up`, starts it again"
                ),
            )
            return
        delay = backoff(health.failures)
        health.state, health.retry_at = RESTARTING, now + delay
        say(
            self.stack.console,
            f"{name} {what}: restarting it in {delay:.0f}s "
            f"(try {health.failures} of {self.max_restarts})",
        )
