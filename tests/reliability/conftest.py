"""Reliability fixtures: one promoted model, and two real APIs serving it (auth off and on)
that the fuzzing, hostile-input and security tests share, so all their traffic hits one process
whose health and logs are checked afterwards; and an MLflow server a test stops and restarts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.local import process
from tests.api import TOKEN, RunningApi, running_api
from tests.conftest import TrackingServer
from tests.serving.factories import new_version


@dataclass
class RestartableMlflow:
    """A real MLflow server on one port and one store, so what it held is back when it is."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        _, self.proc = process.start_tracking_server(self.root, self.port)

    def stop(self) -> None:
        if self.proc is not None:
            process.stop(self.proc)
            self.proc = None


@pytest.fixture
def restartable_mlflow(tmp_path: Path) -> Iterator[RestartableMlflow]:
    """Not started yet (MLflow is down); stopped after the test if it is running."""
    server = RestartableMlflow(tmp_path / "mlflow", process.free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_model(mlflow_server: TrackingServer) -> str:
    """The name of a registered model with one version at `@prod`."""
    name = "reliability-shared"
    new_version(mlflow_server.uri, name)
    return name


def _ready(
    tmp: pytest.TempPathFactory, server: TrackingServer, name: str, **env: str
) -> Iterator[RunningApi]:
    with running_api(tmp.mktemp("api"), server.uri, name, **env) as api:
        api.wait_ready()
        yield api


@pytest.fixture(scope="session")
def open_api(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: TrackingServer, shared_model: str
) -> Iterator[RunningApi]:
    """`mlstack serve` without a token."""
    yield from _ready(tmp_path_factory, mlflow_server, shared_model)


@pytest.fixture(scope="session")
def guarded_api(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: TrackingServer, shared_model: str
) -> Iterator[RunningApi]:
    """`mlstack serve` with API_TOKEN set, logging at its most talkative level."""
    yield from _ready(
        tmp_path_factory, mlflow_server, shared_model, API_TOKEN=TOKEN, LOG_LEVEL="debug"
    )
