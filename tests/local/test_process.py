"""`stop()` ends a service's whole process group, including workers that outlive the leader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.local import process
from services.local.state import alive

# A leader that exits on SIGTERM, leaving a worker that ignores SIGTERM in its group.
STUBBORN_WORKER = """
import signal, subprocess, sys, time
ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True)"
worker = subprocess.Popen([sys.executable, "-c", ignore + "; time.sleep(600)"],
                          stdout=subprocess.PIPE)
worker.stdout.readline()
print(worker.pid, flush=True)
time.sleep(600)
"""


def test_stop_kills_a_worker_that_ignores_sigterm_after_the_leader_exits(tmp_path: Path) -> None:
    leader = subprocess.Popen(
        [sys.executable, "-c", STUBBORN_WORKER], stdout=subprocess.PIPE, start_new_session=True
    )
    assert leader.stdout is not None
    worker = int(leader.stdout.readline())
    process.stop(leader, timeout=1.0)
    assert leader.returncode is not None
    assert not process.group_exists(leader.pid)
    assert not alive(worker)


def test_stop_of_an_exited_process_is_a_no_op() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()
    process.stop(proc)
    assert proc.returncode == 0


def test_executable_prefers_this_environment_and_reports_missing_commands() -> None:
    assert process.executable("mlstack") == str(Path(sys.executable).with_name("mlstack"))
    assert process.executable("no-such-command-anywhere") is None
