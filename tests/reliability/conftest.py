"""Reliability fixtures: one promoted model shared by the tests that only read it."""

from __future__ import annotations

import pytest

from tests.conftest import TrackingServer
from tests.serving.factories import new_version


@pytest.fixture(scope="session")
def shared_model(mlflow_server: TrackingServer) -> str:
    """The name of a registered model with one version at `@prod`."""
    name = "reliability-shared"
    new_version(mlflow_server.uri, name)
    return name
