"""The stack's state file: who supervises it and which processes it started, for `down`/`status`.

The supervisor rewrites it after every start, so even a supervisor killed mid-startup leaves
enough behind for `mlstack down` to stop what it started.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.files import write_atomically

FILE = "stack.json"


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    pid: int  # also its process group id: each service leads its own group
    url: str | None = None
    ready_url: str | None = None
    started: int | None = None  # start_ticks(pid) when it was recorded
    state: str = "up"  # or "starting", "restarting", "gave up" (services/local/supervisor.py)
    restarts: int = 0  # restarts by the supervisor since `mlstack up`

    def is_ours(self) -> bool:
        """Still the process we started, not a reused pid (after a reboot, say)."""
        return self.started is None or start_ticks(self.pid) == self.started


@dataclass(frozen=True)
class StackState:
    pid: int  # the supervising `mlstack up`
    status: str = "starting"  # "starting", then "up" once every service is ready
    services: list[ServiceEntry] = field(default_factory=list)
    model: str | None = None  # at start-up, e.g. "ForecastModel@prod = version 1"
    model_name: str | None = None  # what `mlstack status` asks the registry about

    def save(self, state_dir: Path) -> None:
        write_atomically(state_dir / FILE, json.dumps(asdict(self), indent=2).encode())

    @classmethod
    def load(cls, state_dir: Path) -> StackState | None:
        try:
            raw = json.loads((state_dir / FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        services = [ServiceEntry(**entry) for entry in raw.pop("services", [])]
        return cls(services=services, **raw)

    @staticmethod
    def clear(state_dir: Path) -> None:
        (state_dir / FILE).unlink(missing_ok=True)

    def table(self) -> str:
        """The one table of URLs printed once everything is up (and by `up --detach`)."""
        rows = [(entry.name, entry.url) for entry in self.services if entry.url]
        api = dict(rows).get("api")
        if api:
            rows.append(("api docs", f"{api}/docs"))
        if self.model:
            rows.append(("model", self.model))
        width = max((len(name) for name, _ in rows), default=0)
        lines = [f"  {name:<{width}}  {value}" for name, value in rows]
        rule = "  " + "-" * max((len(line) - 2 for line in lines), default=0)
        return "\n".join(["", rule, *lines, rule, ""]) + "\n"


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = proc_stat(pid)
    if stat is None:
        return True  # no procfs (macOS): trust kill(0)
    return stat[STATE] != "Z"


STATE, PGRP, START_TIME = 0, 2, 19  # indexes into `proc_stat`


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and
    parentheses), so `[STATE]`, `[PGRP]`, `[START_TIME]`; None without procfs or process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot; None without procfs or process."""
    stat = proc_stat(pid)
    return None if stat is None else int(stat[START_TIME])


def is_supervisor(pid: int) -> bool:
    """Alive and running `mlstack`: a stale state file's pid may since belong to someone else."""
    if not alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no procfs (macOS): trust kill(0)
    return b"mlstack" in cmdline
