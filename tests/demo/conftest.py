"""Real services for the demo's tests: a model trained by the project's trainer, served by
`mlstack serve` as its own process, and an API that has no model to serve."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.api import running_api
from tests.conftest import TrackingServer
from tests.factories import PanelVersion, train_first_version, train_panel_version

TOKEN = "s3cret-demo-token-of-32-characters"  # API_TOKEN: at least 32 characters


@pytest.fixture(autouse=True)
def _main_module_restored() -> Iterator[None]:
    """Streamlit's AppTest leaves its temporary script as `__main__`; put the real one back, so
    later tests' worker processes (which re-import `__main__`) do not run a deleted script."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@dataclass(frozen=True)
class ServedApi:
    url: str
    model_name: str
    version: str


@pytest.fixture(scope="session")
def served_api(
    mlflow_server: TrackingServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApi]:
    """`mlstack serve` serving a freshly trained `@prod` model, once it is ready."""
    name = f"demo-{os.getpid()}"
    version = train_first_version(mlflow_server.uri, name, "demo-tests")
    with running_api(tmp_path_factory.mktemp("api"), mlflow_server.uri, name) as api:
        api.wait_ready()
        yield ServedApi(api.url, name, version)


@dataclass(frozen=True)
class PanelApi:
    url: str
    model_name: str
    trained: PanelVersion


@pytest.fixture(scope="session")
def panel_api(
    mlflow_server: TrackingServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PanelApi]:
    """`mlstack serve` serving a freshly trained `@prod` model of several M3 series."""
    name = f"demo-panel-{os.getpid()}"
    folder = tmp_path_factory.mktemp("demo-panel")
    trained = train_panel_version(mlflow_server.uri, name, "demo-tests", 5, folder)
    with running_api(folder, mlflow_server.uri, name) as api:
        api.wait_ready()
        yield PanelApi(api.url, name, trained)


@pytest.fixture(scope="session")
def modelless_api(
    mlflow_server: TrackingServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`mlstack serve` for a model nobody trained: alive, but 503 on everything model-bound."""
    folder = tmp_path_factory.mktemp("api-empty")
    name = f"never-trained-{os.getpid()}"
    with running_api(folder, mlflow_server.uri, name, MODEL_POLL_SECONDS="1") as api:
        yield api.url


@pytest.fixture(scope="session")
def token_api(
    mlflow_server: TrackingServer, served_api: ServedApi, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`mlstack serve` of the same model, started with API_TOKEN set."""
    folder = tmp_path_factory.mktemp("api-token")
    with running_api(folder, mlflow_server.uri, served_api.model_name, API_TOKEN=TOKEN) as api:
        api.wait_ready()
        yield api.url
