"""Serving fixtures: one trained, promoted model shared by the read-only route tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.serving.app import create_app
from tests.factories import train_panel_version, wait_for

from .factories import new_version, settings


@dataclass(frozen=True)
class Promoted:
    uri: str
    name: str
    version: str


@pytest.fixture(scope="session")
def promoted(mlflow_server) -> Promoted:  # type: ignore[no-untyped-def]
    """One model version at `@prod` for every test that only reads."""
    name = "serving-shared"
    return Promoted(mlflow_server.uri, name, new_version(mlflow_server.uri, name))


@dataclass(frozen=True)
class Panel:
    uri: str
    name: str
    version: str
    ids: list[str]  # sorted
    data: Path  # the long unique_id,ds,y CSV it was trained on


@pytest.fixture(scope="session")
def panel(mlflow_server, tmp_path_factory) -> Panel:  # type: ignore[no-untyped-def]
    """One model of several M3 series at `@prod`, trained by the trainer, for the series tests."""
    name = "serving-panel"
    folder = tmp_path_factory.mktemp("serving-panel")
    trained = train_panel_version(mlflow_server.uri, name, "serving-tests", 7, folder)
    return Panel(mlflow_server.uri, name, trained.version, trained.ids, trained.data)


@dataclass
class ServedApp:
    """The shared app under test (not `services.serving.holder.Served`, the version it serves)."""

    client: TestClient
    registry: CollectorRegistry
    model: Promoted


@pytest.fixture(scope="module")
def served(promoted: Promoted) -> Iterator[ServedApp]:
    """A running app (lifespan on) serving the shared model; waits until it is ready."""
    registry = CollectorRegistry()
    app = create_app(settings(promoted.uri, promoted.name), registry=registry)
    with TestClient(app) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the model to load")
        yield ServedApp(client, registry, promoted)
