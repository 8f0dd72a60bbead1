"""`mlstack db-upgrade` on a real PostgreSQL: it builds MLflow's schema in an empty database,
and when two run at once on an older MLflow's schema (two replicas starting after an upgrade of
the image) the migration runs once: the first migrates, the second finds the schema current."""

from __future__ import annotations

import time

import pytest

from services.tracking.upgrade import LOCK_KEY

from .conftest import db_upgrade, newest_revision, older_schema, schema_revision, upgraded
from .server import Postgres

pytestmark = pytest.mark.slow  # MLflow's migrations against a real server, several processes

WAITERS = f"""
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted AND objid = ({LOCK_KEY} & x'ffffffff'::bigint)
"""


def test_db_upgrade_builds_the_schema_of_an_empty_database(database: str) -> None:
    head = newest_revision()
    assert schema_revision(database) is None
    said = upgraded(database)
    assert f"upgraded the schema from an empty database to {head}" in said
    assert schema_revision(database) == head


def test_two_db_upgrades_at_once_migrate_an_older_schema_exactly_once(
    postgres: Postgres, database: str
) -> None:
    old, head = older_schema(database, back=10), newest_revision()
    assert schema_revision(database) == old != head
    # Hold the lock, start both, and let go only once both wait for it: they truly overlap.
    holder = postgres.connect(database.rsplit("/", 1)[1])
    try:
        holder.execute(f"SELECT pg_advisory_lock({LOCK_KEY})")
        runs = [db_upgrade(database), db_upgrade(database)]
        deadline = time.monotonic() + 120
        while postgres.execute(WAITERS, database.rsplit("/", 1)[1])[0][0] < 2:
            assert all(r.poll() is None for r in runs), [r.communicate() for r in runs]
            assert time.monotonic() < deadline, "the two db-upgrades never waited for the lock"
            time.sleep(0.2)
        holder.execute(f"SELECT pg_advisory_unlock({LOCK_KEY})")
    finally:
        holder.close()
    said = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        said.append(out)
    assert all("another db-upgrade holds the lock" in out for out in said)
    migrated = [out for out in said if f"upgraded the schema from {old} to {head}" in out]
    current = [out for out in said if "nothing to upgrade" in out]
    assert (len(migrated), len(current)) == (1, 1), said
    assert schema_revision(database) == head
