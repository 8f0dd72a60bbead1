"""`mlflow db upgrade` on a PostgreSQL tracking store, never by two processes at once.

Several MLflow replicas start together on one database. Left to themselves, each server creates or
migrates a schema it finds incomplete, guarded only by a file lock on its own machine, so two
replicas can run the same migration at once. Each replica's init container (and `mlstack up
--tracking-db`) runs this first instead: under a PostgreSQL advisory lock it upgrades only when the
schema is not this MLflow's newest, so the first one migrates and every later one finds nothing to
do. The servers then make MLflow's users under the same lock (services/tracking/auth.py). The
lock is the session's: it goes with the connection, also when the process dies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy
from sqlalchemy.pool import NullPool

# One 64-bit advisory lock key for this job, the same in every process.
LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"mlflow-serving-stack: mlflow db upgrade").digest()[:8], "big", signed=True
)


class UpgradeError(RuntimeError):
    """Why the schema was not upgraded, in one sentence."""


@dataclass(frozen=True)
class Upgrade:
    before: str | None  # the revision found; None for an empty database
    after: str  # this MLflow's newest revision, where the schema is now
    waited: bool  # whether another process held the lock first

    @property
    def migrated(self) -> bool:
        return self.before != self.after


def upgrade(uri: str, wait_seconds: float, say: Callable[[str], None]) -> Upgrade:
    """Bring the schema at `uri` to this MLflow's newest revision, waiting up to `wait_seconds`
    for another process that holds the lock; `say` reports each step."""
    with one_at_a_time(uri, wait_seconds, say) as (engine, waited):
        return _upgrade(uri, engine, waited, say)


@contextmanager
def one_at_a_time(
    uri: str, wait_seconds: float, say: Callable[[str], None]
) -> Iterator[tuple[sqlalchemy.Engine, bool]]:
    """The block run under the advisory lock of the PostgreSQL at `uri` (the schema upgrade,
    and the servers' own start-up writes: services/tracking/auth.py), waiting up to
    `wait_seconds` for another process that holds it. An engine on the database, and whether
    another process held the lock first."""
    url = sqlalchemy.engine.make_url(uri)
    if not is_postgresql(uri):
        raise UpgradeError(
            f"{url.get_backend_name()} is not PostgreSQL: the upgrade is guarded by a PostgreSQL "
            "advisory lock (a SQLite store has a single server and needs none)"
        )
    engine = sqlalchemy.create_engine(uri, poolclass=NullPool)  # closing disconnects: no lock kept
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
            waited = _lock(lock, wait_seconds, say)
            yield engine, waited
            lock.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    except sqlalchemy.exc.OperationalError as exc:
        raise UpgradeError(f"the database at {url.render_as_string()}: {exc.orig}") from None
    finally:
        engine.dispose()


def is_postgresql(uri: str) -> bool:
    return sqlalchemy.engine.make_url(uri).get_backend_name() == "postgresql"


def _lock(
    connection: sqlalchemy.Connection, wait_seconds: float, say: Callable[[str], None]
) -> bool:
    """Take the lock; whether another process held it first."""
    key = {"key": LOCK_KEY}
    if connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:key)"), key).scalar():
        return False
    say(
        "another replica holds the lock (migrating, or making MLflow's users): "
        f"waiting {wait_seconds:.0f}s"
    )
    connection.execute(sqlalchemy.text(f"SET lock_timeout = {int(wait_seconds * 1000)}"))
    try:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), key)
    except sqlalchemy.exc.OperationalError:
        raise UpgradeError(f"the lock was still held after {wait_seconds:.0f}s") from None
    return True


def _upgrade(
    uri: str, engine: sqlalchemy.Engine, waited: bool, say: Callable[[str], None]
) -> Upgrade:
    """Under the lock: `mlflow db upgrade` when the schema is behind, nothing otherwise."""
    from mlflow.db import upgrade as mlflow_db_upgrade
    from mlflow.store.db.utils import _get_latest_schema_revision, _get_schema_version

    head = _get_latest_schema_revision()
    before = _get_schema_version(engine)
    if before == head:
        say(f"the schema is at {head}, this MLflow's newest: nothing to upgrade")
        return Upgrade(before, head, waited)
    say(f"upgrading the schema from {before or 'an empty database'} to {head}")
    # `mlflow db upgrade <uri>` itself, in this process: the URI (a password) stays off argv.
    mlflow_db_upgrade.main([uri], standalone_mode=False)
    after = _get_schema_version(engine)
    if after != head:
        raise UpgradeError(f"`mlflow db upgrade` left the schema at {after}, not {head}")
    say(f"upgraded the schema from {before or 'an empty database'} to {head}")
    return Upgrade(before, head, waited)
