"""Following `@prod` on a real MLflow server: first promotion, later promotions, a broken
version, and MLflow going away. Conditions are polled with a deadline, never slept on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import orjson
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils
from prometheus_client import CollectorRegistry

from services.local import process
from services.serving.app import create_app
from services.serving.loader import MlflowLoader
from tests.conftest import TrackingServer, start_tracking_server
from tests.factories import wait_for

from .factories import break_version, new_version, sample, settings


@contextmanager
def serving(uri: str, name: str) -> Iterator[tuple[TestClient, CollectorRegistry]]:
    registry = CollectorRegistry()
    with TestClient(create_app(settings(uri, name), registry=registry)) as client:
        yield client, registry


def served_version(client: TestClient) -> str | None:
    response = client.get("/model")
    return response.json()["version"] if response.status_code == 200 else None


def info(registry: CollectorRegistry, name: str, version: str, run_id: str) -> float:
    labels = {"model_name": name, "model_version": version, "run_id": run_id, "source": "registry"}
    return sample(registry, "model_info", labels)


def test_503_with_retry_after_until_a_version_is_promoted_then_200_without_restart(
    mlflow_server: TrackingServer, model_name: str
) -> None:
    with serving(mlflow_server.uri, model_name) as (client, registry):
        for method, route, body in [
            ("POST", "/predict", {"horizon": 3}),
            ("POST", "/invocations", {"inputs": {"n_periods": [3]}}),
            ("GET", "/model", None),
            ("GET", "/readyz", None),
        ]:
            response = client.request(method, route, json=body)
            assert response.status_code == 503, route
            assert int(response.headers["retry-after"]) > 0
        assert client.get("/healthz").status_code == 200
        assert sample(registry, "model_loaded") == 0

        version = new_version(mlflow_server.uri, model_name)

        wait_for(lambda: served_version(client) == version, what="the first promotion")
        response = client.post("/predict", json={"horizon": 3})
        assert response.status_code == 200
        assert response.json()["model"]["version"] == version
        assert sample(registry, "model_registry_errors_total") == 0  # no model is no outage


def test_a_promotion_is_picked_up_with_no_failed_request_and_shown_everywhere(
    mlflow_server: TrackingServer, model_name: str
) -> None:
    uri = mlflow_server.uri
    first = new_version(uri, model_name, scale=1.0)
    with serving(uri, model_name) as (client, registry):
        wait_for(lambda: served_version(client) == first, what="the first version")
        before = client.post("/predict", json={"horizon": 3}).json()
        second = new_version(uri, model_name, scale=2.0, promote=False)
        run_id = mlflow.MlflowClient(uri).get_model_version(model_name, second).run_id

        statuses: list[tuple[int, str]] = []
        stop = threading.Event()

        def load() -> None:  # steady traffic across the swap
            while not stop.is_set():
                response = client.post("/predict", json={"horizon": 3})
                statuses.append((response.status_code, response.json()["model"]["version"]))

        worker = threading.Thread(target=load)
        worker.start()
        try:
            wait_for(lambda: statuses, what="traffic before the swap")
            mlflow.MlflowClient(uri).set_registered_model_alias(model_name, "prod", second)
            wait_for(lambda: served_version(client) == second, what="the promotion")
            wait_for(lambda: statuses[-1][1] == second, what="traffic after the swap")
        finally:
            stop.set()
            worker.join()

        assert {status for status, _ in statuses} == {200}
        assert {version for _, version in statuses} == {first, second}
        after = client.post("/predict", json={"horizon": 3}).json()
        assert after["model"]["version"] == second
        ratio = after["forecast"][0]["yhat"] / before["forecast"][0]["yhat"]
        assert ratio == pytest.approx(2.0, rel=0.05)  # the new model's numbers, not a stale cache
        assert info(registry, model_name, second, run_id) == 1
        text = client.get("/metrics").text
        assert f'model_version="{first}"' not in text
        assert sample(registry, "model_reloads_total", {"result": "success"}) == 2


def test_a_broken_new_version_leaves_the_old_one_serving_and_counts_one_failure(
    mlflow_server: TrackingServer, model_name: str
) -> None:
    uri = mlflow_server.uri
    first = new_version(uri, model_name)
    with serving(uri, model_name) as (client, registry):
        wait_for(lambda: served_version(client) == first, what="the first version")
        broken = new_version(uri, model_name, scale=3.0, promote=False)
        break_version(mlflow_server.root, uri, model_name, broken)
        mlflow.MlflowClient(uri).set_registered_model_alias(model_name, "prod", broken)

        failures = {"result": "failure"}
        wait_for(lambda: sample(registry, "model_reloads_total", failures) == 1, what="the failure")
        assert served_version(client) == first
        assert client.post("/predict", json={"horizon": 2}).status_code == 200
        assert client.get("/readyz").status_code == 200

        # Polls go on (the next good version is picked up) without counting the broken one again.
        third = new_version(uri, model_name, scale=1.5)
        wait_for(lambda: served_version(client) == third, what="the next good version")
        assert sample(registry, "model_reloads_total", failures) == 1


def test_the_loader_ignores_the_process_wide_tracking_and_registry_uris(
    mlflow_server: TrackingServer, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = new_version(mlflow_server.uri, model_name)
    closed = f"http://127.0.0.1:{process.free_port()}"
    # What a trainer run in the same process leaves behind (monkeypatch restores it exactly).
    monkeypatch.setattr(tracking_utils, "_tracking_uri", closed)
    monkeypatch.setattr(registry_utils, "_registry_uri", closed)
    loader = MlflowLoader(mlflow_server.uri)
    ref = loader.resolve(model_name, "prod")
    assert ref is not None and ref.version == version
    assert len(orjson.loads(loader.load(ref).forecast(None, 3, None).body)) == 3


def test_mlflow_down_at_start_serves_nothing_yet_and_counts_registry_errors() -> None:
    closed = f"http://127.0.0.1:{process.free_port()}"
    with serving(closed, "never-there") as (client, registry):
        wait_for(lambda: sample(registry, "model_registry_errors_total") >= 2, what="errors")
        assert client.get("/healthz").status_code == 200
        response = client.post("/predict", json={"horizon": 3})
        assert response.status_code == 503
        assert "retry-after" in response.headers


@pytest.mark.slow
def test_mlflow_stopped_while_serving_keeps_predictions_working_then_recovers(
    tmp_path: Path, model_name: str
) -> None:
    root = tmp_path / "private-mlflow"
    uri, proc = start_tracking_server(root)
    port = int(uri.rsplit(":", 1)[1])
    try:
        first = new_version(uri, model_name)
        with serving(uri, model_name) as (client, registry):
            wait_for(lambda: served_version(client) == first, what="the first version")
            process.stop(proc)  # type: ignore[arg-type]

            wait_for(lambda: sample(registry, "model_registry_errors_total") >= 2, what="errors")
            for horizon in (4, 5, 6):  # new horizons: computed now, with MLflow gone
                response = client.post("/predict", json={"horizon": horizon})
                assert response.status_code == 200
                assert len(response.json()["forecast"]) == horizon
            assert client.get("/readyz").status_code == 200
            assert sample(registry, "model_loaded") == 1

            uri, proc = start_tracking_server(root, port)
            second = new_version(uri, model_name, scale=2.0)
            wait_for(lambda: served_version(client) == second, what="recovery")
    finally:
        process.stop(proc)  # type: ignore[arg-type]
