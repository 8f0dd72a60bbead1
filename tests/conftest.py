"""Session-wide real services: one MLflow tracking server (SQLite + artifact proxy) per run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.local import process
from services.local.process import start_tracking_server

ROOT = Path(__file__).resolve().parents[1]
AIRLINE = ROOT / "services" / "data" / "airline.csv"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `mlflow` every test whose fixtures reach the session's MLflow server: it trains or
    registers models for real. Derived from what a test uses, so a new one lands in its tier."""
    for item in items:
        if "mlflow_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mlflow)


@pytest.fixture(autouse=True)
def _event_loop() -> None:
    """Give the main thread a current event loop: Pulumi's mocks and `pulumi.runtime.test` run on
    it, and any earlier `asyncio.run()` leaves the thread with none ("no current event loop")."""
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


@dataclass(frozen=True)
class TrackingServer:
    uri: str
    root: Path
    proc: object


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    """One real MLflow tracking server for the whole session; tests use unique model names."""
    root = tmp_path_factory.mktemp("mlflow")
    uri, proc = start_tracking_server(root, timeout=120)
    yield TrackingServer(uri=uri, root=root, proc=proc)
    process.stop(proc)  # type: ignore[arg-type]


@pytest.fixture
def tracking_uri(mlflow_server: TrackingServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this test's MLflow client at the session server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    import mlflow

    mlflow.set_tracking_uri(mlflow_server.uri)
    return mlflow_server.uri


@pytest.fixture
def model_name(request: pytest.FixtureRequest) -> str:
    """A registered-model name unique to the test, so tests share one server safely."""
    return "m-" + request.node.name.replace("[", "-").replace("]", "")[:80] + f"-{os.getpid()}"


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket: str


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """moto's S3 server on a loopback port: the real S3 protocol over HTTP, one bucket."""
    from moto.server import ThreadedMotoServer

    port = process.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    old = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    import boto3

    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="mlstack-data")
    yield S3Endpoint(url=url, bucket="mlstack-data")
    server.stop()
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
