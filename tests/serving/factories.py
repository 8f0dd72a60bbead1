"""Builders for serving tests: registered model versions and apps wired to a real MLflow.

Versions come from the project's trainer on a scaled copy of the bundled airline series, so each
version forecasts visibly different numbers. The alias is moved here, not by the trainer's
champion rule, because these tests are about following the alias.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.servers import start_mlflow_serve
from services.local import process
from services.serving.settings import Settings
from tests.conftest import AIRLINE
from tests.factories import train_version


def scaled_csv(folder: Path, scale: float) -> Path:
    """The airline series times `scale`, so versions are told apart by their forecasts."""
    import pandas as pd

    frame = pd.read_csv(AIRLINE)
    frame["y"] = frame["y"] * scale
    path = folder / f"airline-x{scale:g}.csv"
    frame.to_csv(path, index=False)
    return path


def new_version(tracking_uri: str, name: str, scale: float = 1.0, promote: bool = True) -> str:
    """Train one version of `name`; point `@prod` at it when `promote`. Returns the version."""
    import mlflow

    folder = Path(tempfile.mkdtemp(prefix="serving-data-"))
    data = scaled_csv(folder, scale)
    version = train_version(tracking_uri, name, "serving-tests", data, promote=False).version
    if promote:
        mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, "prod", version)
    return version


def break_version(server_root: Path, tracking_uri: str, name: str, version: str) -> None:
    """Delete a version's artifacts on the server's disk, as a lost or corrupt upload would."""
    import mlflow

    source = mlflow.MlflowClient(tracking_uri).get_model_version(name, version).source
    model_id = source.removeprefix("models:/").split("/")[0]
    found = [p for p in (server_root / "artifacts").rglob(model_id) if p.is_dir()]
    assert found, f"no artifact folder for {source} under {server_root}"
    for folder in found:
        shutil.rmtree(folder)


def settings(tracking_uri: str, name: str, **overrides: Any) -> Settings:
    """Serving settings for tests: a short poll so alias moves show up quickly, and a model
    cache of the app's own."""
    values: dict[str, Any] = {
        "mlflow_tracking_uri": tracking_uri,
        "model_name": name,
        "model_poll_seconds": 0.2,
        "model_cache_dir": tempfile.mkdtemp(prefix="model-cache-"),  # each app its own
    }
    values.update(overrides)
    return Settings(**values)


def sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    return registry.get_sample_value(name, labels or {}) or 0.0


@contextlib.contextmanager
def mlflow_serve(folder: Path, tracking_uri: str, name: str) -> Iterator[str]:
    """The URL of `mlflow models serve` of name@prod, started as the benchmark starts it."""
    server = start_mlflow_serve(folder, tracking_uri, name)
    url = f"http://127.0.0.1:{server.port}"
    try:
        process.wait_ready(f"{url}/ping", server.proc, timeout=300, name="mlflow models serve")
        yield url
    finally:
        process.stop(server.proc)
