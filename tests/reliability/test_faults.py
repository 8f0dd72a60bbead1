"""MLflow faults against a real `mlstack serve` process: the registry down at start, down while
serving, back again, and a promoted version whose artifacts are gone. What the API logged is read
from its own output, so "logged once" means once in what an operator would see."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import mlflow
import pytest

from tests.api import RunningApi, running_api
from tests.conftest import TrackingServer
from tests.factories import wait_for
from tests.reliability.conftest import RestartableMlflow
from tests.serving.factories import break_version, new_version

UNREACHABLE = "model registry unreachable"
REACHABLE = "model registry reachable again"


def errors(api: RunningApi) -> float:
    return api.metric("model_registry_errors_total")


def predict(api: RunningApi, horizon: int) -> httpx.Response:
    return httpx.post(f"{api.url}/predict", json={"horizon": horizon}, timeout=30)


@pytest.mark.slow
def test_mlflow_down_at_start_then_up_then_down_then_back_is_served_through_and_counted(
    tmp_path: Path, model_name: str, restartable_mlflow: RestartableMlflow
) -> None:
    server = restartable_mlflow
    uri = server.uri
    with running_api(tmp_path, uri, model_name) as api:
        # 1. MLflow down at start: alive, not ready, 503 with Retry-After, errors counted.
        wait_for(lambda: errors(api) >= 2, what="registry errors while MLflow is down")
        assert httpx.get(f"{api.url}/healthz").status_code == 200
        assert httpx.get(f"{api.url}/readyz").status_code == 503
        response = predict(api, 3)
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 0

        # 2. MLflow comes up and a version is promoted: served without a restart.
        server.start()
        first = new_version(uri, model_name)
        wait_for(lambda: api.version() == first, what="the first version once MLflow is up")
        assert predict(api, 3).status_code == 200

        # 3. MLflow goes down mid-flight: the loaded model keeps serving, errors are counted.
        server.stop()
        before = errors(api)
        wait_for(lambda: errors(api) >= before + 2, what="errors during the outage")
        for horizon in (5, 7, 11):  # not cached yet: computed while MLflow is gone
            response = predict(api, horizon)
            assert response.status_code == 200
            assert response.json()["model"]["version"] == first
            assert len(response.json()["forecast"]) == horizon
        assert httpx.get(f"{api.url}/readyz").status_code == 200
        assert api.metric("model_loaded") == 1

        # 4. MLflow is back (same port, same database): the next promotion is followed.
        server.start()
        second = new_version(uri, model_name, scale=2.0)
        wait_for(lambda: api.version() == second, what="the promotion after recovery")
        logs = api.logs()
    # Two outages, each logged when it starts and when it ends, however many polls failed.
    assert logs.count(UNREACHABLE) == 2, logs
    assert logs.count(REACHABLE) == 2, logs
    assert "Traceback" not in logs


def test_a_broken_prod_version_keeps_the_old_one_and_is_logged_once_not_per_poll(
    tmp_path: Path, mlflow_server: TrackingServer, model_name: str
) -> None:
    uri = mlflow_server.uri
    first = new_version(uri, model_name)
    with running_api(tmp_path, uri, model_name) as api:
        wait_for(lambda: api.version() == first, what="the first version")
        broken = new_version(uri, model_name, scale=3.0, promote=False)
        break_version(mlflow_server.root, uri, model_name, broken)
        mlflow.MlflowClient(uri).set_registered_model_alias(model_name, "prod", broken)

        failures = {"result": "failure"}
        wait_for(lambda: api.metric("model_reloads_total", failures) == 1, what="the failure")
        # Let the follower poll the broken alias many times (every 0.2 s, with load retries
        # backing off from 0.4 s): none of that may add a log line or a count.
        time.sleep(4)
        assert api.metric("model_reloads_total", failures) == 1
        response = predict(api, 2)
        assert response.status_code == 200
        assert response.json()["model"]["version"] == first
        assert httpx.get(f"{api.url}/readyz").status_code == 200
        logs = api.logs()
    # One warning (its exception text may span lines) that names both versions.
    failed = [line for line in logs.splitlines() if "failed to load" in line]
    assert len(failed) == 1, logs
    assert failed[0].startswith(f"WARNING mlstack.serving: version {broken} of {model_name}")
    assert logs.count(f"still serving version {first}") == 1
