"""`mlstack tracking`: MLflow's server starts only on a local store it can write, and otherwise
stops at once with a sentence naming the path (the read-only volume itself is run for real in
tests/containers/test_faults.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from contract.tracking import BACKEND_STORE_ENV
from services.tracking.preflight import problems

MLSTACK = Path(sys.executable).with_name("mlstack")


def args(store: str, artifacts: str) -> list[str]:
    return [
        "--host",
        "127.0.0.1",
        "--backend-store-uri",
        store,
        "--artifacts-destination",
        artifacts,
    ]


def test_a_writable_store_passes_and_its_folders_are_made(tmp_path: Path) -> None:
    store, artifacts = f"sqlite:///{tmp_path}/db/mlflow.db", str(tmp_path / "artifacts")
    assert problems(args(store, artifacts)) == []
    assert (tmp_path / "db").is_dir() and (tmp_path / "artifacts").is_dir()
    assert list((tmp_path / "db").iterdir()) == []  # the check leaves nothing behind


def test_an_existing_database_is_opened_for_writing_and_left_as_it_was(tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "mlflow.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (x)")
    before = database.read_bytes()
    assert problems(["--backend-store-uri=sqlite:///" + str(database)]) == []
    assert database.read_bytes() == before


def test_a_store_that_cannot_be_written_is_named_with_the_reason(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    found = problems(args(f"sqlite:///{blocked}/mlflow.db", f"{blocked}/artifacts"))
    assert len(found) == 2
    assert found[0].startswith(f"the backend store sqlite:///{blocked}/mlflow.db is not writable")
    assert found[1].startswith(f"the artifacts {blocked}/artifacts is not writable: {blocked}")


def test_the_store_mlflow_reads_from_its_environment_is_checked_too(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    env = {BACKEND_STORE_ENV: f"sqlite:///{blocked}/mlflow.db"}
    (found,) = problems(["--artifacts-destination", str(tmp_path / "artifacts")], env)
    assert found.startswith(f"the backend store sqlite:///{blocked}/mlflow.db is not writable")
    # An argument, when given, is what MLflow uses.
    assert problems(["--backend-store-uri", f"sqlite:///{tmp_path}/mlflow.db"], env) == []


def test_a_database_server_and_an_object_store_are_left_to_mlflow() -> None:
    assert problems(args("postgresql://u@db/mlflow", "s3://bucket/artifacts")) == []


def test_mlstack_tracking_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    run = subprocess.run(
        [str(MLSTACK), "tracking", *args(f"sqlite:///{blocked}/mlflow.db", str(tmp_path / "a"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("error: the backend store sqlite:///")
    assert lines[-1] == (
        "error: mount the data volume read-write (on Kubernetes, the MLflow "
        "PersistentVolumeClaim); MLflow is not started"
    )
    assert "Traceback" not in run.stderr
