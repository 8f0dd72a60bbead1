"""The model cache against real `mlstack serve` processes and a real MLflow: an API restarted
while MLflow is down serves the version it cached, a damaged entry is ignored with one log line,
and a registry that answers is never overruled by the cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from services.local import process
from services.serving.loader import MlflowLoader
from services.serving.modelcache import ModelCache
from tests.api import RunningApi, running_api
from tests.conftest import TrackingServer
from tests.factories import wait_for
from tests.reliability.conftest import RestartableMlflow
from tests.serving.factories import new_version

FROM_CACHE = "from the model cache while the registry is unreachable"


def model(api: RunningApi) -> dict[str, object]:
    response = httpx.get(f"{api.url}/model", timeout=30)
    return dict(response.json()) if response.status_code == 200 else {}


def forecast(api: RunningApi) -> object:
    response = httpx.post(f"{api.url}/predict", json={"horizon": 5}, timeout=30)
    assert response.status_code == 200
    return response.json()


@pytest.mark.slow
def test_an_api_restarted_while_mlflow_is_down_serves_its_cached_version_then_follows_prod(
    tmp_path: Path, model_name: str, restartable_mlflow: RestartableMlflow
) -> None:
    server = restartable_mlflow
    uri = server.uri
    cache = tmp_path / "model-cache"
    entry = ModelCache(cache).path(model_name, "prod")
    server.start()
    first = new_version(uri, model_name)
    with running_api(tmp_path / "first", uri, model_name, MODEL_CACHE_DIR=str(cache)) as api:
        api.wait_ready()
        assert api.version() == first
        wait_for(entry.exists, what="the served version in the model cache")
        before = forecast(api)

    # MLflow goes down, then the API restarts with the same cache folder.
    server.stop()
    with running_api(tmp_path / "second", uri, model_name, MODEL_CACHE_DIR=str(cache)) as api:
        api.wait_ready()
        assert api.version() == first
        assert (model(api)["version"], model(api)["source"]) == (first, "cache")
        labels = {"model_name": model_name, "model_version": first}
        run_id = str(model(api)["run_id"])
        assert api.metric("model_info", {**labels, "run_id": run_id, "source": "cache"}) == 1
        assert forecast(api) == before
        assert api.metric("model_registry_errors_total") >= 1

        # MLflow is back: the registry's copy replaces the cached one, and @prod is followed.
        server.start()
        wait_for(lambda: model(api).get("source") == "registry", what="the registry's copy")
        assert api.metric("model_info", {**labels, "run_id": run_id, "source": "cache"}) == 0
        second = new_version(uri, model_name, scale=2.0)
        wait_for(lambda: api.version() == second, what="the promotion after recovery")
        logs = api.logs()
    assert logs.count(FROM_CACHE) == 1, logs
    assert "Traceback" not in logs


@pytest.mark.parametrize(
    "content",
    [b'{"format": "mlstack-model-cache/1", "ref": {', b"\x00\xff"],
    ids=["truncated", "binary"],
)
def test_a_corrupt_cache_entry_is_ignored_with_one_log_line(
    tmp_path: Path, model_name: str, content: bytes
) -> None:
    uri = f"http://127.0.0.1:{process.free_port()}"  # nothing listens there: MLflow is down
    cache = tmp_path / "model-cache"
    cache.mkdir()
    entry = ModelCache(cache).path(model_name, "prod")
    entry.write_bytes(content)
    with running_api(tmp_path, uri, model_name, MODEL_CACHE_DIR=str(cache)) as api:
        wait_for(lambda: api.metric("model_registry_errors_total") >= 3, what="failed polls")
        assert httpx.get(f"{api.url}/readyz", timeout=30).status_code == 503
        logs = api.logs()
    ignored = [line for line in logs.splitlines() if "model cache entry ignored" in line]
    assert len(ignored) == 1, logs
    assert ignored[0].startswith(
        "WARNING mlstack.serving: model cache entry ignored, nothing loaded: answering 503"
    )
    assert entry.name in ignored[0]
    assert "Traceback" not in logs


def test_with_the_registry_answering_the_cache_is_not_used(
    tmp_path: Path, mlflow_server: TrackingServer, shared_model: str, model_name: str
) -> None:
    uri = mlflow_server.uri
    loader = MlflowLoader(uri)
    ref = loader.resolve(shared_model, "prod")
    assert ref is not None
    cache = ModelCache(tmp_path / "model-cache")
    # A usable entry for a model the registry has no version of, and one for the shared model
    # naming a version the registry does not point at.
    cache.save(dataclasses.replace(ref, name=model_name), loader.load(ref))
    cache.save(dataclasses.replace(ref, version="999"), loader.load(ref))
    env = {"MODEL_CACHE_DIR": str(cache.folder)}

    with running_api(tmp_path / "unset", uri, model_name, **env) as api:
        wait_for(lambda: f"no model at {model_name}@prod yet" in api.logs(), what="an answer")
        assert httpx.get(f"{api.url}/readyz", timeout=30).status_code == 503
        unset_logs = api.logs()
    with running_api(tmp_path / "set", uri, shared_model, **env) as api:
        api.wait_ready()
        assert (model(api)["version"], model(api)["source"]) == (ref.version, "registry")
        set_logs = api.logs()
    assert "from the model cache" not in unset_logs + set_logs
