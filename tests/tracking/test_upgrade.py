"""`mlstack db-upgrade` refuses, with one line and exit 1, what it cannot guard: no database, or one
that is not PostgreSQL (its runs against a real PostgreSQL are in tests/postgres/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract.tracking import BACKEND_STORE_ENV

MLSTACK = Path(sys.executable).with_name("mlstack")


def db_upgrade(uri: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != BACKEND_STORE_ENV}
    if uri is not None:
        env[BACKEND_STORE_ENV] = uri
    return subprocess.run(
        [str(MLSTACK), "db-upgrade"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (None, f"error: {BACKEND_STORE_ENV} is not set: no database to upgrade"),
        ("sqlite:////data/mlflow.db", "error: sqlite is not PostgreSQL: the upgrade is guarded"),
        ("mysql://u:s3cret@db/mlflow", "error: mysql is not PostgreSQL"),
    ],
)
def test_db_upgrade_refuses_what_it_cannot_guard_in_one_line(uri: str | None, message: str) -> None:
    run = db_upgrade(uri)
    assert run.returncode == 1
    assert run.stderr.strip().startswith(message), run.stderr
    assert "Traceback" not in run.stderr and "s3cret" not in run.stderr
