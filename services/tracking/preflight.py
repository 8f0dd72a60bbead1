"""What MLflow's server needs before it starts: a local store it can write.

`mlflow server` starts, and answers `/health`, on a read-only database or artifact folder, then
fails each write with an error about the database. Checked first, a read-only volume stops the
server at once with a sentence naming the path (a crash loop whose log says why, on Kubernetes).
Only local stores are checked: a database server or an object store reports its own errors.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from contract.tracking import BACKEND_STORE_ENV

SQLITE = "sqlite:///"


def flag(args: Sequence[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in `args`."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def backend_store(args: Sequence[str], env: Mapping[str, str] = os.environ) -> str | None:
    """The backend store's URI: the argument's, else the variable's MLflow reads (`env`)."""
    return flag(args, "--backend-store-uri") or env.get(BACKEND_STORE_ENV)


def problems(args: Sequence[str], env: Mapping[str, str] = os.environ) -> list[str]:
    """Why `mlflow server args` could not write its local stores; empty when it can. The
    backend store is the argument's, else the variable's MLflow reads (`env`)."""
    found = []
    store = backend_store(args, env)
    if store and store.startswith(SQLITE):
        database = Path(store.removeprefix(SQLITE).split("?", 1)[0])
        found += _folder(database.parent, f"backend store {store}")
        if not found and database.exists():
            found += _database(database, f"backend store {store}")
    artifacts = flag(args, "--artifacts-destination")
    if artifacts and ("://" not in artifacts or artifacts.startswith("file://")):
        found += _folder(Path(artifacts.removeprefix("file://")), f"artifacts {artifacts}")
    return found


def _folder(folder: Path, what: str) -> list[str]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mlstack-write-check-"):
            pass
    except OSError as exc:
        return [f"the {what} is not writable: {folder}: {exc.strerror or exc}"]
    return []


def _database(database: Path, what: str) -> list[str]:
    try:
        with sqlite3.connect(database) as connection:
            connection.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
            connection.rollback()
    except sqlite3.Error as exc:
        return [f"the {what} is not writable: {database}: {exc}"]
    return []
