"""Real services for the demo's tests: a model trained by the project's trainer, served by
`mlstack serve` as its own process, and an API that has no model to serve."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.local import process
from services.spec import API
from tests.conftest import TrackingServer
from tests.factories import train_first_version


@dataclass(frozen=True)
class RunningApi:
    url: str
    model_name: str
    version: str


def start_api(
    tracking_uri: str, model_name: str, log: Path, token: str | None = None
) -> tuple[str, object]:
    port = process.free_port()
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MODEL_NAME": model_name,
        "MODEL_ALIAS": "prod",
        "API_TOKEN": token or "",
    }
    proc = process.start(API, env, stdout=log.open("ab"))
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(f"{url}/healthz", proc, timeout=120, name="API")
    return url, proc


@pytest.fixture(scope="session")
def served_api(
    mlflow_server: TrackingServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    """`mlstack serve` serving a freshly trained `@prod` model, once it is ready."""
    name = f"demo-{os.getpid()}"
    version = train_first_version(mlflow_server.uri, name, "demo-tests")
    log = tmp_path_factory.mktemp("api") / "api.log"
    url, proc = start_api(mlflow_server.uri, name, log)
    process.wait_ready(f"{url}/readyz", proc, timeout=120, name="API")  # type: ignore[arg-type]
    yield RunningApi(url, name, version)
    process.stop(proc)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def modelless_api(
    mlflow_server: TrackingServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`mlstack serve` for a model nobody trained: alive, but 503 on everything model-bound."""
    log = tmp_path_factory.mktemp("api-empty") / "api.log"
    url, proc = start_api(mlflow_server.uri, f"never-trained-{os.getpid()}", log)
    yield url
    process.stop(proc)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def token_api(
    mlflow_server: TrackingServer, served_api: RunningApi, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`mlstack serve` of the same model, started with API_TOKEN=s3cret."""
    log = tmp_path_factory.mktemp("api-token") / "api.log"
    url, proc = start_api(mlflow_server.uri, served_api.model_name, log, token="s3cret")
    process.wait_ready(f"{url}/readyz", proc, timeout=120, name="API")  # type: ignore[arg-type]
    yield url
    process.stop(proc)  # type: ignore[arg-type]
