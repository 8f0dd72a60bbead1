"""Monitoring fixtures: promtool, and one real API (`mlstack serve`) with traffic on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api import RunningApi, running_api
from tests.binaries import binary
from tests.factories import Scoring, score_version, train_first_version
from tests.monitoring.factories import drive_traffic


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary; `make test` installs it (Debian's prometheus package)."""
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _binary("prometheus")


def _binary(name: str) -> str:
    return binary(name, "`make system-deps` installs Debian's prometheus package")


@pytest.fixture(scope="session")
def served_api(mlflow_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:  # type: ignore[no-untyped-def]
    """`mlstack serve` on a free loopback port, serving a model the trainer promoted and the
    scorer scored (well), after a little traffic of every kind (forecasts, MLflow protocol,
    health, 4xx)."""
    name = "monitoring-api"
    version = train_first_version(mlflow_server.uri, name, "monitoring-tests")
    score_version(mlflow_server.uri, name, version, Scoring())
    folder = tmp_path_factory.mktemp("api")
    with running_api(folder, mlflow_server.uri, name, MODEL_POLL_SECONDS="1") as api:
        api.wait_ready()
        drive_traffic(api.url)
        yield api
