"""MLflow's users on a real PostgreSQL: replicas that start together (`mlstack tracking` on each)
make them one at a time, under the schema upgrade's advisory lock, and both start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contract.tracking import BACKEND_STORE_ENV, READER, WRITER, auth_env

from .conftest import finished, started_together
from .server import Postgres

pytestmark = pytest.mark.slow  # MLflow's auth migrations against a real server, two processes

AUTH = auth_env(
    admin_password="admin-password",
    secret_key="secret-key",
    writer_password="writer-password",
    reader_password="reader-password",
    reader_model="ForecastModel",
)
# What `mlstack tracking` does before it starts the server (services/tracking/cli.py).
PROVISION = (
    "import os; from services.tracking import auth; "
    f"auth.provision(os.environ['{BACKEND_STORE_ENV}'], auth.settings(), print)"
)


def provisioning(uri: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PROVISION],
        env={**os.environ, **AUTH, BACKEND_STORE_ENV: uri},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_servers_starting_at_once_make_the_users_one_at_a_time(
    postgres: Postgres, database: str
) -> None:
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    said = finished(started_together(postgres, database, lambda: provisioning(database)))
    assert all("holds the lock" in out for out in said)
    store = SqlAlchemyStore()
    store.init_db(database)
    try:
        assert store.authenticate_user(WRITER, "writer-password")
        assert store.authenticate_user(READER, "reader-password")
    finally:
        store.engine.dispose()
