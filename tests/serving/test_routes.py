"""Every route of the API against a real MLflow server and a model the trainer trained."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking._tracking_service import utils as tracking_utils
from prometheus_client import CollectorRegistry

from services.registry import RegistryError, Version
from services.serving.app import create_app
from services.serving.models import ForeignPyfunc
from services.serving.settings import Settings
from tests.factories import wait_for

from .conftest import ServedApp
from .factories import sample
from .test_door import Counting

FORMATS = {
    "dataframe_split": {"dataframe_split": {"columns": ["n_periods", "level"], "data": [[4, 0.8]]}},
    "dataframe_records": {"dataframe_records": [{"n_periods": 4, "level": 0.8}]},
    "inputs": {"inputs": {"n_periods": [4], "level": [0.8]}},
    "instances": {"instances": [{"n_periods": 4, "level": 0.8}]},
}


@pytest.fixture(scope="module")
def in_process(served: ServedApp) -> Any:
    """The same version loaded in this process the way any MLflow user would load it."""
    model = served.model
    # `models:/` resolves through the process-wide tracking URI, which a trainer run in another
    # test may have pointed elsewhere: point it here for the load, then put it back.
    previous = tracking_utils._tracking_uri
    mlflow.set_tracking_uri(model.uri)
    try:
        return mlflow.pyfunc.load_model(f"models:/{model.name}/{model.version}")
    finally:
        tracking_utils._tracking_uri = previous


def expected(model: Any, frame: pd.DataFrame) -> dict[str, Any]:
    return {"predictions": model.predict(frame).to_dict(orient="records")}


def test_healthz_answers_while_the_process_is_up(served: ServedApp) -> None:
    assert served.client.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_the_loaded_version(served: ServedApp) -> None:
    response = served.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "version": served.model.version}


def test_head_on_the_probes_answers_as_get_without_a_body(served: ServedApp) -> None:
    for path in ("/healthz", "/readyz", "/ping", "/health"):
        response = served.client.head(path)
        assert response.status_code == served.client.get(path).status_code == 200, path
        assert response.content == b""
    app = create_app(Settings(), loader=NothingPromoted(), registry=CollectorRegistry())
    with TestClient(app) as client:
        assert client.head("/readyz").status_code == 503


class NothingPromoted:
    """A registry where the alias is not set yet."""

    def resolve(self, name: str, alias: str) -> None:
        return None

    def load(self, ref: object) -> Any:
        raise AssertionError("nothing is promoted, so nothing is loaded")


def test_mlflow_ping_and_health_answer_like_readyz(served: ServedApp) -> None:
    ready = served.client.get("/readyz")
    for path in ("/ping", "/health"):
        response = served.client.get(path)
        assert response.status_code == 200
        assert response.json() == ready.json()
    app = create_app(Settings(), loader=NothingPromoted(), registry=CollectorRegistry())
    with TestClient(app) as client:
        waiting = client.get("/readyz")
        assert waiting.status_code == 503
        for path in ("/ping", "/health"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.json() == waiting.json()
            assert response.headers["retry-after"] == waiting.headers["retry-after"] == "5"


def test_predict_returns_exactly_horizon_rows_and_the_version(served: ServedApp) -> None:
    body = served.client.post("/predict", json={"horizon": 7}).json()
    model = served.model
    registered = mlflow.MlflowClient(model.uri).get_model_version(model.name, model.version)
    assert body["model"] == {
        "name": model.name,
        "version": model.version,
        "run_id": registered.run_id,
    }
    assert len(body["forecast"]) == 7
    for row in body["forecast"]:
        assert set(row) == {"ds", "yhat", "yhat_lower", "yhat_upper"}
        assert row["yhat_lower"] <= row["yhat"] <= row["yhat_upper"]


def test_a_lower_level_gives_narrower_intervals(served: ServedApp) -> None:
    def width(level: float) -> float:
        row = served.client.post("/predict", json={"horizon": 1, "level": level}).json()
        return float(row["forecast"][0]["yhat_upper"] - row["forecast"][0]["yhat_lower"])

    assert width(0.5) < width(0.99)


def test_predict_equals_the_model_in_process(served: ServedApp, in_process: Any) -> None:
    body = served.client.post("/predict", json={"horizon": 5, "level": 0.9}).json()
    frame = pd.DataFrame({"n_periods": [5], "level": [0.9]})
    assert body["forecast"] == expected(in_process, frame)["predictions"]


def test_identical_requests_are_not_recomputed(served: ServedApp) -> None:
    before = sample(served.registry, "forecast_value_count")
    first = served.client.post("/predict", json={"horizon": 11, "level": 0.77})
    after_first = sample(served.registry, "forecast_value_count")
    second = served.client.post("/predict", json={"horizon": 11, "level": 0.77})
    assert after_first - before == 11  # computed once: eleven values observed
    assert sample(served.registry, "forecast_value_count") == after_first  # then cached
    assert first.content == second.content


@pytest.mark.parametrize("fmt", FORMATS)
def test_invocations_equals_the_model_in_process(
    served: ServedApp, in_process: Any, fmt: str
) -> None:
    response = served.client.post("/invocations", json=FORMATS[fmt])
    assert response.status_code == 200
    frame = pd.DataFrame({"n_periods": [4], "level": [0.8]})
    assert response.json() == expected(in_process, frame)


def test_invocations_with_several_rows_concatenates_them_in_order(
    served: ServedApp, in_process: Any
) -> None:
    payload = {"dataframe_records": [{"n_periods": 2}, {"n_periods": 3}]}
    response = served.client.post("/invocations", json=payload)
    assert response.json() == expected(in_process, pd.DataFrame({"n_periods": [2, 3]}))


def test_invocations_with_params_goes_through_mlflows_parser(
    served: ServedApp, in_process: Any
) -> None:
    payload = {"inputs": {"n_periods": [3]}, "params": {}}
    response = served.client.post("/invocations", json=payload)
    assert response.json() == expected(in_process, pd.DataFrame({"n_periods": [3]}))


def test_invocations_with_missing_levels_uses_the_default_for_those_rows(
    served: ServedApp, in_process: Any
) -> None:
    payload = {"dataframe_records": [{"n_periods": 2}, {"n_periods": 1, "level": 0.5}]}
    response = served.client.post("/invocations", json=payload)
    frame = pd.DataFrame({"n_periods": [2, 1], "level": [None, 0.5]})
    assert response.json() == expected(in_process, frame)


def test_invocations_accepts_csv_like_mlflow(served: ServedApp, in_process: Any) -> None:
    response = served.client.post(
        "/invocations", content=b"n_periods\n3\n", headers={"content-type": "text/csv"}
    )
    assert response.json() == expected(in_process, pd.DataFrame({"n_periods": [3]}))


def test_model_describes_the_served_version_and_its_training(served: ServedApp) -> None:
    info = served.client.get("/model").json()
    assert info["name"] == served.model.name
    assert info["version"] == served.model.version
    assert info["alias"] == "prod"
    assert info["run_id"]
    assert {"smape", "mase", "rmse", "mae", "coverage"} <= set(info["metrics"])
    assert info["trained_at"] and info["loaded_at"]
    assert "decision" in info["tags"]
    assert (info["source"], info["registry"]) == ("registry", "reachable")


def test_metrics_show_the_served_version(served: ServedApp) -> None:
    text = served.client.get("/metrics").text
    model = served.model
    assert f'model_info{{model_name="{model.name}",model_version="{model.version}"' in text
    assert "model_loaded 1.0" in text
    assert sample(served.registry, "model_trained_timestamp_seconds") > 0
    assert sample(served.registry, "model_load_duration_seconds") > 0
    assert sample(served.registry, "model_reloads_total", {"result": "success"}) == 1


def test_requests_are_counted_by_route_template_never_by_raw_path(served: ServedApp) -> None:
    served.client.get("/no/such/route/123")
    served.client.get("/no/such/route/456")
    served.client.post("/predict", json={"horizon": 2})
    labels = {"handler": "none", "method": "GET", "status": "404"}
    assert sample(served.registry, "http_requests_total", labels) >= 2
    handlers = {
        s.labels["handler"]
        for f in served.registry.collect()
        if f.name == "http_requests"
        for s in f.samples
    }
    assert "/predict" in handlers
    assert not any(h.startswith("/no/") for h in handlers)
    assert (
        sample(
            served.registry,
            "http_request_duration_seconds_count",
            {"handler": "/predict", "method": "POST"},
        )
        >= 1
    )


def test_forecast_horizons_are_observed(served: ServedApp) -> None:
    before = sample(served.registry, "forecast_horizon_count")
    served.client.post("/predict", json={"horizon": 9})
    assert sample(served.registry, "forecast_horizon_count") == before + 1


def test_docs_and_openapi_describe_every_route(served: ServedApp) -> None:
    assert served.client.get("/docs").status_code == 200
    paths = served.client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/invocations", "/model", "/healthz", "/readyz", "/metrics"} <= set(paths)
    body = paths["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    assert "dataframe_split" in body["schema"]["properties"]


def test_unknown_routes_are_404(served: ServedApp) -> None:
    assert served.client.get("/nope").status_code == 404


class GoesAway:
    """A registry that serves version 1 until the test takes it away."""

    def __init__(self) -> None:
        self.down = False

    def resolve(self, name: str, alias: str) -> Version | None:
        if self.down:
            raise RegistryError("connection refused")
        return Version(name, "1", "run1", alias=alias)

    def load(self, ref: Version) -> Any:
        return ForeignPyfunc(Counting())


def test_model_says_when_the_registry_has_gone_away() -> None:
    registry = GoesAway()
    config = Settings(model_poll_seconds=0.05)
    with TestClient(create_app(config, loader=registry, registry=CollectorRegistry())) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the model to load")
        registry.down = True
        wait_for(lambda: client.get("/model").json()["registry"] == "unreachable", what="outage")
        info = client.get("/model").json()
        assert (info["version"], info["source"]) == ("1", "registry")  # still served
        registry.down = False
        wait_for(lambda: client.get("/model").json()["registry"] == "reachable", what="return")
