"""`mlstack db-upgrade` on a real PostgreSQL: it builds MLflow's schema in an empty database,
and when two run at once on an older MLflow's schema (two replicas starting after an upgrade of
the image) the migration runs once: the first migrates, the second finds the schema current."""

from __future__ import annotations

import pytest

from .conftest import (
    db_upgrade,
    finished,
    newest_revision,
    older_schema,
    schema_revision,
    started_together,
    upgraded,
)
from .server import Postgres

pytestmark = pytest.mark.slow  # MLflow's migrations against a real server, several processes


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
    said = finished(started_together(postgres, database, lambda: db_upgrade(database)))
    assert all("holds the lock" in out for out in said)
    migrated = [out for out in said if f"upgraded the schema from {old} to {head}" in out]
    current = [out for out in said if "nothing to upgrade" in out]
    assert (len(migrated), len(current)) == (1, 1), said
    assert schema_revision(database) == head
