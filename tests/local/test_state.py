"""The state file survives a round trip and never mistakes a stranger's pid for the supervisor."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from services.local.state import ServiceEntry, StackState, alive, is_supervisor


def test_state_round_trips_through_the_file(tmp_path: Path) -> None:
    state = StackState(
        pid=123,
        status="up",
        services=[
            ServiceEntry("api", 456, "http://127.0.0.1:8000", "http://127.0.0.1:8000/readyz")
        ],
        model="ForecastModel@prod = version 2",
    )
    state.save(tmp_path)
    assert StackState.load(tmp_path) == state
    StackState.clear(tmp_path)
    assert StackState.load(tmp_path) is None


def test_a_torn_state_file_reads_as_no_stack(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text('{"pid": 1, "serv')
    assert StackState.load(tmp_path) is None


def test_an_exited_process_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not alive(proc.pid)
    assert alive(os.getpid())


def test_a_live_process_that_is_not_mlstack_is_not_the_supervisor() -> None:
    assert alive(os.getpid()) and not is_supervisor(os.getpid())


def test_table_lists_every_service_url_then_the_api_docs_and_the_model() -> None:
    state = StackState(
        pid=1,
        status="up",
        services=[
            ServiceEntry("mlflow", 2, "http://127.0.0.1:5000"),
            ServiceEntry("api", 3, "http://127.0.0.1:8000"),
        ],
        model="ForecastModel@prod = version 4",
    )
    lines = [line for line in state.table().splitlines() if line.strip() and "---" not in line]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines]
    assert rows == [
        ["mlflow", "http://127.0.0.1:5000"],
        ["api", "http://127.0.0.1:8000"],
        ["api docs", "http://127.0.0.1:8000/docs"],
        ["model", "ForecastModel@prod = version 4"],
    ]
