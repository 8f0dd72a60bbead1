"""Many series in one model, served: `/predict`'s `series`, `/invocations`' `unique_id`, `/series`
and `/model`'s count, against a real MLflow server and a model of M3 series the trainer trained;
and a model of one series answering by its id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking._tracking_service import utils as tracking_utils
from prometheus_client import CollectorRegistry

from services.serving.app import create_app
from tests.factories import wait_for

from .conftest import Panel, ServedApp
from .factories import sample, settings

MAX_SERIES = 3  # MAX_SERIES_PER_REQUEST of the app under test


def load_pyfunc(uri: str, name: str, version: str) -> Any:
    """The version loaded in this process as any MLflow user would load it."""
    previous = tracking_utils._tracking_uri  # another test's trainer may have moved it
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    finally:
        tracking_utils._tracking_uri = previous


@pytest.fixture(scope="module")
def app(panel: Panel) -> Iterator[tuple[TestClient, CollectorRegistry]]:
    registry = CollectorRegistry()
    config = settings(panel.uri, panel.name, max_series_per_request=MAX_SERIES)
    with TestClient(create_app(config, registry=registry)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the panel to load")
        yield client, registry


@pytest.fixture(scope="module")
def client(app: tuple[TestClient, CollectorRegistry]) -> TestClient:
    return app[0]


@pytest.fixture(scope="module")
def pyfunc(panel: Panel) -> Any:
    return load_pyfunc(panel.uri, panel.name, panel.version)


def records(model: Any, frame: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return model.predict(pd.DataFrame(frame)).to_dict(orient="records")  # type: ignore[no-any-return]


def test_predict_for_one_series_answers_its_forecast_with_its_id(
    client: TestClient, panel: Panel, pyfunc: Any
) -> None:
    some = panel.ids[2]
    response = client.post("/predict", json={"horizon": 5, "level": 0.8, "series": some})
    assert response.status_code == 200
    body = response.json()
    assert body["model"]["version"] == panel.version
    assert [row["unique_id"] for row in body["forecast"]] == [some] * 5
    frame = {"unique_id": [some], "n_periods": [5], "level": [0.8]}
    assert body["forecast"] == records(pyfunc, frame)


def test_predict_for_several_series_answers_each_in_request_order(
    client: TestClient, panel: Panel
) -> None:
    asked = [panel.ids[4], panel.ids[0], panel.ids[4]]
    body = client.post("/predict", json={"horizon": 3, "series": asked}).json()
    assert [row["unique_id"] for row in body["forecast"]] == [s for s in asked for _ in range(3)]
    for i, some in enumerate(asked):
        alone = client.post("/predict", json={"horizon": 3, "series": some}).json()
        assert body["forecast"][3 * i : 3 * i + 3] == alone["forecast"]


def test_different_series_get_different_forecasts(client: TestClient, panel: Panel) -> None:
    answers = {
        some: client.post("/predict", json={"horizon": 2, "series": some}).json()["forecast"]
        for some in panel.ids
    }
    yhats = {tuple(row["yhat"] for row in rows) for rows in answers.values()}
    assert len(yhats) == len(panel.ids)


def test_an_unknown_series_is_a_422_naming_it_and_the_models_count(
    client: TestClient, panel: Panel
) -> None:
    for series in ("no-such-series", [panel.ids[0], "no-such-series"]):
        response = client.post("/predict", json={"horizon": 3, "series": series})
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "series"]
        assert "'no-such-series'" in error["msg"]
        assert f"the model has {len(panel.ids)}" in error["msg"]


def test_a_model_of_several_series_asked_without_series_is_a_422_saying_so(
    client: TestClient, panel: Panel
) -> None:
    response = client.post("/predict", json={"horizon": 3})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "series"]
    assert f"This model has {len(panel.ids)} series: name one or more in 'series'" in error["msg"]


def test_more_series_than_max_series_per_request_is_a_422(client: TestClient, panel: Panel) -> None:
    response = client.post("/predict", json={"horizon": 3, "series": panel.ids[: MAX_SERIES + 1]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "series"]
    assert f"at most {MAX_SERIES} forecasts (MAX_SERIES_PER_REQUEST" in error["msg"]
    assert client.post("/predict", json={"horizon": 3, "series": panel.ids[:MAX_SERIES]}).is_success


@pytest.mark.parametrize(
    "series",
    [[], [1], 7, [None], {"id": "x"}],
    ids=["empty list", "a number in the list", "a number", "a null in the list", "an object"],
)
def test_series_of_the_wrong_shape_is_a_422(client: TestClient, series: object) -> None:
    response = client.post("/predict", json={"horizon": 3, "series": series})
    assert response.status_code == 422
    assert all(error["loc"][:2] == ["body", "series"] for error in response.json()["detail"])


def test_invocations_with_unique_id_answers_as_the_pyfunc_in_process(
    client: TestClient, panel: Panel, pyfunc: Any
) -> None:
    one = {"unique_id": [panel.ids[1]], "n_periods": [4]}
    several = {"unique_id": [panel.ids[3], panel.ids[1]], "n_periods": [2, 3], "level": [0.5, 0.9]}
    for frame in (one, several):
        response = client.post("/invocations", json={"inputs": frame})
        assert response.status_code == 200
        assert response.json() == {"predictions": records(pyfunc, frame)}
        rows = [list(row) for row in zip(*frame.values(), strict=True)]
        split = {"columns": list(frame), "data": rows}
        response = client.post("/invocations", json={"dataframe_split": split})
        assert response.json() == {"predictions": records(pyfunc, frame)}


def test_invocations_with_an_unknown_id_is_a_400_naming_it(
    client: TestClient, panel: Panel
) -> None:
    payload = {"inputs": {"unique_id": [panel.ids[0], "no-such-series"], "n_periods": [2, 2]}}
    response = client.post("/invocations", json=payload)
    assert response.status_code == 400
    message = response.json()["message"]
    assert "'no-such-series'" in message and f"the model has {len(panel.ids)} series" in message


def test_invocations_without_unique_id_on_a_model_of_several_is_a_400_saying_so(
    client: TestClient, panel: Panel
) -> None:
    response = client.post("/invocations", json={"inputs": {"n_periods": [2]}})
    assert response.status_code == 400
    message = response.json()["message"]
    assert f"this model has {len(panel.ids)} series" in message and "'unique_id'" in message


def test_series_lists_every_id_sorted_a_page_at_a_time(client: TestClient, panel: Panel) -> None:
    pages, offset = [], 0
    while True:
        page = client.get("/series", params={"offset": offset, "limit": 3}).json()
        assert page["total"] == len(panel.ids)
        assert (page["offset"], page["limit"]) == (offset, 3)
        if not page["series"]:
            break
        pages.append(page["series"])
        offset += 3
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [some for p in pages for some in p] == panel.ids
    assert client.get("/series").json()["series"] == panel.ids  # the default page holds them all


@pytest.mark.parametrize("params", [{"offset": -1}, {"limit": 0}, {"limit": 10_001}])
def test_series_refuses_a_page_out_of_bounds(client: TestClient, params: dict[str, int]) -> None:
    response = client.get("/series", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


def test_model_gives_the_count_of_series(client: TestClient, panel: Panel) -> None:
    info = client.get("/model").json()
    assert (info["version"], info["series"]) == (panel.version, len(panel.ids))


def test_each_series_forecast_is_cached_apart(
    app: tuple[TestClient, CollectorRegistry], panel: Panel
) -> None:
    client, registry = app
    asked = {"horizon": 13, "level": 0.61}

    def computed() -> float:
        return sample(registry, "forecast_value_count")

    before = computed()
    first = client.post("/predict", json={**asked, "series": panel.ids[5]})
    assert computed() - before == 13
    other = client.post("/predict", json={**asked, "series": panel.ids[6]})
    assert computed() - before == 26  # another series: computed, not the first one's answer
    both = client.post("/predict", json={**asked, "series": [panel.ids[5], panel.ids[6]]})
    again = client.post("/predict", json={**asked, "series": panel.ids[5]})
    assert computed() - before == 26  # then cached
    assert again.content == first.content
    assert both.json()["forecast"] == first.json()["forecast"] + other.json()["forecast"]


def test_no_metric_label_carries_a_series_id(
    app: tuple[TestClient, CollectorRegistry], panel: Panel
) -> None:
    client, registry = app
    for some in panel.ids:
        client.post("/predict", json={"horizon": 2, "series": some})
        client.post("/invocations", json={"inputs": {"unique_id": [some], "n_periods": [2]}})
    client.post("/predict", json={"horizon": 2, "series": "no-such-series"})
    client.get("/series")
    labels = {
        value
        for family in registry.collect()
        for s in family.samples
        for value in s.labels.values()
    }
    assert labels, "the registry exports labelled samples"
    assert not labels & {*panel.ids, "no-such-series"}


@pytest.fixture(scope="module")
def single(served: ServedApp) -> Any:
    model = served.model
    return load_pyfunc(model.uri, model.name, model.version)


def test_a_model_of_one_series_answers_by_its_id_too(served: ServedApp, single: Any) -> None:
    client = served.client
    assert client.get("/model").json()["series"] == 1
    assert client.get("/series").json() == {"total": 1, "offset": 0, "limit": 1000, "series": ["y"]}
    plain = client.post("/predict", json={"horizon": 4}).json()["forecast"]
    named = client.post("/predict", json={"horizon": 4, "series": "y"}).json()["forecast"]
    assert named == [{"unique_id": "y", **row} for row in plain]
    frame = {"unique_id": ["y"], "n_periods": [4]}
    response = client.post("/invocations", json={"inputs": frame})
    assert response.json() == {"predictions": records(single, frame)}
    unknown = client.post("/predict", json={"horizon": 4, "series": "z"})
    assert unknown.status_code == 422
    assert "'z'" in unknown.json()["detail"][0]["msg"] and "the model has 1" in unknown.text
