"""`mlstack up --tracking-db`: the local stack keeps MLflow's registry in a given PostgreSQL,
upgrading its schema first, and nothing of it in the state directory (SQLite stays the default,
tests/local/)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from local.factories import up_command, wait_until_up

from .server import Postgres

pytestmark = pytest.mark.slow  # the whole local stack, for real


def test_up_with_a_tracking_db_trains_into_postgresql_and_keeps_no_sqlite(
    postgres: Postgres, database: str, tmp_path: Path
) -> None:
    state_dir, log = tmp_path / ".mlstack", tmp_path / "up.out"
    # The variable, as the README advises: a --tracking-db flag would show the password in ps.
    env = {**os.environ, "MLSTACK_TRACKING_DB": database}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            up_command(state_dir), stdout=out, stderr=subprocess.STDOUT, env=env
        )
        try:
            state = wait_until_up(state_dir, proc, log)
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=120)
    output = log.read_text()
    assert code == 0, output
    assert state.model == "ForecastModel@prod = version 1"
    assert "upgraded the schema from an empty database to" in output  # before MLflow started
    assert output.index("upgraded the schema") < output.index("ForecastModel@prod is unset")
    aliases = "SELECT alias, version FROM registered_model_aliases WHERE name = 'ForecastModel'"
    assert postgres.execute(aliases, database.rsplit("/", 1)[1]) == [("prod", 1)]
    assert list(state_dir.rglob("*.db")) == []
    assert database.split("@")[0] not in output  # the password is never printed
