"""Monitoring fixtures: promtool, and one real API (`mlstack serve`) with traffic on it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.api import RunningApi, running_api
from tests.factories import train_first_version
from tests.monitoring.factories import drive_traffic


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary; `make test` installs it (Debian's prometheus package)."""
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _binary("prometheus")


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not on PATH; `make system-deps` installs Debian's prometheus package"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs it, so a missing binary is a broken setup
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def served_api(mlflow_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:  # type: ignore[no-untyped-def]
    """`mlstack serve` on a free loopback port, serving a model the trainer promoted, after a
    little traffic of every kind (forecasts, MLflow protocol, health, 4xx)."""
    name = "monitoring-api"
    train_first_version(mlflow_server.uri, name, "monitoring-tests")
    folder = tmp_path_factory.mktemp("api")
    with running_api(folder, mlflow_server.uri, name, MODEL_POLL_SECONDS="1") as api:
        api.wait_ready()
        drive_traffic(api.url)
        yield api
