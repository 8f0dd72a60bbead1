"""A real PostgreSQL server for the session (tests/postgres/server.py), a fresh database per
test, and MLflow's schema helpers: MLflow runs against it for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contract.tracking import BACKEND_STORE_ENV
from services.tracking.upgrade import LOCK_KEY
from tests.binaries import need

from .server import HINT, Postgres, binaries, running

MLSTACK = Path(sys.executable).with_name("mlstack")
WAITERS = f"""
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted AND objid = ({LOCK_KEY} & x'ffffffff'::bigint)
"""


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    found = binaries()
    need("PostgreSQL (initdb, postgres)", found is not None, HINT)
    assert found is not None
    with running(found) as server:
        yield server


@pytest.fixture
def database(postgres: Postgres, request: pytest.FixtureRequest) -> str:
    """A new empty database for this test; its URI."""
    return postgres.create_database(re.sub(r"\W", "_", request.node.name)[:50].lower())


def db_upgrade(uri: str) -> subprocess.Popen[str]:
    """`mlstack db-upgrade` on `uri`, as the pods' init container runs it: the URI in the
    variable, never on the command line."""
    return subprocess.Popen(
        [str(MLSTACK), "db-upgrade"],
        env={**os.environ, BACKEND_STORE_ENV: uri},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def upgraded(uri: str) -> str:
    """Run `mlstack db-upgrade` to its end and return what it said; it must succeed."""
    proc = db_upgrade(uri)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def schema_revision(uri: str) -> str | None:
    import sqlalchemy
    from mlflow.store.db.utils import _get_schema_version

    engine = sqlalchemy.create_engine(uri)
    try:
        return str(_get_schema_version(engine) or "") or None
    finally:
        engine.dispose()


def newest_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return str(_get_latest_schema_revision())


def older_schema(uri: str, back: int) -> str:
    """MLflow's schema as an older MLflow left it: its first tables, then its migrations up to
    `back` revisions before this MLflow's newest (how MLflow itself builds a new database, but
    stopped early). Returns that revision."""
    import sqlalchemy
    from alembic import command
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    config = _get_alembic_config(uri)
    revision = list(ScriptDirectory.from_config(config).walk_revisions())[back].revision
    engine = sqlalchemy.create_engine(uri)
    try:
        InitialBase.metadata.create_all(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    return str(revision)


def started_together(
    postgres: Postgres, database: str, start: Callable[[], subprocess.Popen[str]], count: int = 2
) -> list[subprocess.Popen[str]]:
    """`count` processes from `start` that truly overlap: the test holds the advisory lock,
    starts them, and lets go only once all of them wait for it."""
    name = database.rsplit("/", 1)[1]
    holder = postgres.connect(name)
    try:
        holder.execute(f"SELECT pg_advisory_lock({LOCK_KEY})")
        runs = [start() for _ in range(count)]
        deadline = time.monotonic() + 120
        while postgres.execute(WAITERS, name)[0][0] < count:
            assert all(r.poll() is None for r in runs), [r.communicate() for r in runs]
            assert time.monotonic() < deadline, "the processes never waited for the lock"
            time.sleep(0.2)
        holder.execute(f"SELECT pg_advisory_unlock({LOCK_KEY})")
    finally:
        holder.close()
    return runs


def finished(runs: list[subprocess.Popen[str]]) -> list[str]:
    """What each process said, once each has exited 0."""
    said = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        said.append(out)
    return said
