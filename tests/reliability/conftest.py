"""Reliability fixtures: one promoted model, and two real APIs serving it (auth off and on)
that the fuzzing, hostile-input and security tests share, so all their traffic hits one process
whose health and logs are checked afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api import TOKEN, RunningApi, running_api
from tests.conftest import TrackingServer
from tests.serving.factories import new_version


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
