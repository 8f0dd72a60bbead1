"""Stream a service's output to the console, prefixed with its name, and to its own log file."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import IO, TextIO

_console_lock = threading.Lock()
WIDTH = 10  # longest service name ("prometheus")


class LogPump:
    """A daemon thread copying `stream` line by line to `console` and `path`; keeps the tail."""

    def __init__(self, name: str, stream: IO[bytes], console: TextIO, path: Path) -> None:
        self.name = name
        self.tail: deque[str] = deque(maxlen=20)
        self._stream = stream
        self._console = console
        self._path = path
        self._thread = threading.Thread(target=self._run, name=f"log-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        prefix = f"{self.name:<{WIDTH}}| "
        with self._path.open("a", encoding="utf-8") as log:
            for raw in iter(self._stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                self.tail.append(line)
                log.write(line + "\n")
                log.flush()
                with _console_lock:
                    self._console.write(prefix + line + "\n")
                    self._console.flush()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the output to drain after the process exited."""
        self._thread.join(timeout)


def say(console: TextIO, message: str) -> None:
    """A line from the stack itself, never interleaved with a service's line."""
    with _console_lock:
        console.write(f"{'mlstack':<{WIDTH}}| {message}\n")
        console.flush()
