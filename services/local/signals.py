"""Ctrl-C, SIGTERM and SIGHUP become one `Shutdown` exception, which can be held back.

Holding it back around "start a process, then record it" means a signal never lands between
the two, so nothing the stack started goes unrecorded, and nothing interrupts the teardown.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Shutdown(Exception):
    """The user or the system asked the stack to stop."""


class SignalGuard:
    def __init__(self) -> None:
        self._holding = 0
        self.received: signal.Signals | None = None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        first = self.received is None
        self.received = signal.Signals(signum)
        if first and not self._holding:
            raise Shutdown(self.received.name)

    @contextmanager
    def installed(self) -> Iterator[SignalGuard]:
        previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Defer a stop signal until the block is done, then raise it."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if self.received is not None and not self._holding:
            raise Shutdown(self.received.name)

    def ignore_more(self) -> None:
        """From now on signals are only noted: the teardown is already under way."""
        self._holding += 1
