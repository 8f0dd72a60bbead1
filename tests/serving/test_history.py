"""`GET /history` and `GET /series/{id}/history`: the last points the served version was fitted
on, from its own artifact, for a model of one series and a model of several (real MLflow, models
the trainer trained); its bounds, its 404s and its schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.forecasting.forecaster import HISTORY_POINTS, Forecaster
from services.forecasting.frequency import Frequency
from services.forecasting.models import fit
from services.forecasting.specs import Spec
from services.registry import Version
from services.serving.app import create_app
from services.serving.models import ForeignPyfunc, Model, OwnForecasters
from services.serving.settings import Settings
from tests.conftest import AIRLINE
from tests.factories import wait_for

from .conftest import Panel, ServedApp
from .factories import settings
from .test_door import Counting


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A CSV's `ds, y` rows as the API writes them."""
    return [{"ds": str(ds), "y": float(y)} for ds, y in zip(frame["ds"], frame["y"], strict=True)]


@pytest.fixture(scope="module")
def panel_client(panel: Panel) -> Iterator[TestClient]:
    app = create_app(settings(panel.uri, panel.name), registry=CollectorRegistry())
    with TestClient(app) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the panel to load")
        yield client


def test_history_of_a_model_of_one_series_is_the_last_points_it_was_fitted_on(
    served: ServedApp,
) -> None:
    response = served.client.get("/history", params={"points": 5})
    assert response.status_code == 200
    body = response.json()
    assert (body["model"]["name"], body["model"]["version"]) == (
        served.model.name,
        served.model.version,
    )
    assert body["history"] == rows(pd.read_csv(AIRLINE).tail(5))  # no unique_id: none named


def test_history_gives_every_point_a_version_keeps_and_the_forecast_follows_its_last(
    served: ServedApp,
) -> None:
    history = served.client.get("/history").json()["history"]
    assert history == rows(pd.read_csv(AIRLINE).tail(HISTORY_POINTS))
    forecast = served.client.post("/predict", json={"horizon": 1}).json()["forecast"]
    assert (history[-1]["ds"], forecast[0]["ds"]) == ("1960-12-01", "1961-01-01")


def test_the_one_series_is_also_asked_by_its_id(served: ServedApp) -> None:
    named = served.client.get("/series/y/history", params={"points": 3}).json()["history"]
    alone = served.client.get("/history", params={"points": 3}).json()["history"]
    assert named == [{"unique_id": "y", **row} for row in alone]


def test_history_of_a_series_of_a_panel_is_its_own_points(
    panel_client: TestClient, panel: Panel
) -> None:
    data = pd.read_csv(panel.data, dtype={"unique_id": str})
    for some in (panel.ids[0], panel.ids[-1]):
        body = panel_client.get(f"/series/{some}/history", params={"points": 4}).json()
        own = data[data["unique_id"] == some].sort_values("ds").tail(4)
        assert body["model"]["version"] == panel.version
        assert body["history"] == [{"unique_id": some, **row} for row in rows(own)]


def test_a_panel_without_a_series_named_is_404_saying_how_to_ask(
    panel_client: TestClient, panel: Panel
) -> None:
    response = panel_client.get("/history")
    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"This model has {len(panel.ids)} series: ask GET /series/{{id}}/history for one "
        "(GET /series lists them)"
    )


@pytest.mark.parametrize("unknown", ["nope", "a/b"])
def test_an_unknown_series_is_404_naming_it(panel_client: TestClient, unknown: str) -> None:
    response = panel_client.get(f"/series/{unknown}/history")
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"Unknown series {unknown!r}: the model has")


@pytest.mark.parametrize("points", [0, -1, HISTORY_POINTS + 1, "x", 2.5])
def test_points_out_of_bounds_are_422_naming_the_parameter(served: ServedApp, points: Any) -> None:
    for path in ("/history", "/series/y/history"):
        response = served.client.get(path, params={"points": points})
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", "points"]


def test_openapi_describes_both_routes_with_the_bound_and_the_rows(served: ServedApp) -> None:
    spec = served.client.get("/openapi.json").json()
    for path in ("/history", "/series/{series_id}/history"):
        get = spec["paths"][path]["get"]
        (points,) = [p for p in get["parameters"] if p["name"] == "points"]
        assert (points["schema"]["minimum"], points["schema"]["maximum"]) == (1, HISTORY_POINTS)
        assert {"200", "404", "422", "503"} <= set(get["responses"])
    row = spec["components"]["schemas"]["HistoryRow"]["properties"]
    assert {"unique_id", "ds", "y"} == set(row)


class Fixed:
    """A registry whose alias points at version 3, loaded as `model`."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def resolve(self, name: str, alias: str) -> Version:
        return Version(name, "3", "run3", alias=alias)

    def load(self, ref: Version) -> Model:
        return self.model


def _client_of(model: Model) -> TestClient:
    config = Settings(model_name="Old", model_cache_dir="")
    return TestClient(create_app(config, loader=Fixed(model), registry=CollectorRegistry()))


def test_a_version_trained_before_versions_kept_history_is_404_saying_so(tmp_path: Path) -> None:
    y = pd.read_csv(AIRLINE)["y"].to_numpy(dtype=float)
    kept_none = Forecaster(
        fit(Spec("seasonal_naive"), y, 12), Frequency("MS", 12), pd.Timestamp("1960-12-01")
    )
    with _client_of(OwnForecasters({"y": kept_none}, tmp_path)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the model to load")
        assert client.post("/predict", json={"horizon": 2}).status_code == 200  # still serves
        for path in ("/history", "/series/y/history"):
            response = client.get(path)
            assert response.status_code == 404
            assert response.json()["detail"].startswith("Version 3 of Old keeps no history")


def test_a_model_another_tool_logged_has_no_history_and_names_no_series() -> None:
    with _client_of(ForeignPyfunc(Counting())) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the model to load")
        assert client.get("/history").status_code == 404
        response = client.get("/series/y/history")
        assert response.status_code == 404
        assert response.json()["detail"] == "This model does not name its series: ask GET /history"


def test_history_before_any_version_is_served_is_503_with_retry_after() -> None:
    from .test_routes import NothingPromoted

    app = create_app(Settings(), loader=NothingPromoted(), registry=CollectorRegistry())
    with TestClient(app) as client:
        for path in ("/history", "/series/y/history"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"


def test_an_unknown_query_parameter_is_422_naming_it_and_what_the_route_takes(
    served: ServedApp,
) -> None:
    for path in ("/history", "/series/y/history", "/series"):
        response = served.client.get(path, params={"point": 5})  # a typo of points
        assert response.status_code == 422, path
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", "point"] and error["type"] == "extra_forbidden"
        assert "this route takes:" in error["msg"]
