"""The Streamlit page, run by Streamlit's own `AppTest` against real APIs."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from services.demo import client
from services.demo.cli import APP
from services.forecasting.forecaster import HISTORY_POINTS
from services.local import process
from tests.conftest import AIRLINE

from .conftest import PanelApi, ServedApi


def _page(monkeypatch: pytest.MonkeyPatch, api_url: str, history: str = "") -> AppTest:
    """The page against `api_url`; `history`: DEMO_HISTORY (empty: the API's history)."""
    monkeypatch.setenv("API_URL", api_url)
    monkeypatch.setenv("DEMO_HISTORY", history)
    return AppTest.from_file(str(APP), default_timeout=60).run()


def _forecast(page: AppTest, horizon: int, level: float) -> AppTest:
    page.number_input[0].set_value(horizon)
    page.slider[0].set_value(level)
    return page.button[0].click().run()


def _chart_data(page: AppTest, layer: str) -> pd.DataFrame:
    """The rows the chart layer named `layer` draws (one per point or period)."""
    (chart,) = page.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    shared = spec.get("data", {}).get("name")  # Altair hoists data all layers have in common
    layers = {part.get("name"): part.get("data", {}).get("name", shared) for part in spec["layer"]}
    (dataset,) = [data for data in chart.proto.datasets if data.name == layers[layer]]
    return pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()


def _chart_rows(page: AppTest, layer: str) -> int:
    return len(_chart_data(page, layer))


def _drawn(page: AppTest, layer: str, value: str) -> list[tuple[str, float]]:
    """The (date, value) pairs a layer draws, dates as ISO days."""
    data = _chart_data(page, layer)
    dates = pd.to_datetime(data["ds"]).dt.strftime("%Y-%m-%d")
    return list(zip(dates, data[value].astype(float), strict=True))


def _own(frame: pd.DataFrame, points: int) -> list[tuple[str, float]]:
    """A CSV's last `points` rows as (date, value) pairs."""
    last = frame.sort_values("ds").tail(points)
    return list(zip(last["ds"].astype(str), last["y"].astype(float), strict=True))


def _spec(page: AppTest) -> dict[str, Any]:
    (chart,) = page.get("vega_lite_chart")
    spec: dict[str, Any] = json.loads(chart.proto.spec)
    return spec


def _layer(page: AppTest, name: str) -> dict[str, Any]:
    (layer,) = [part for part in _spec(page)["layer"] if part.get("name") == name]
    return layer


def test_page_shows_the_served_model_and_its_backtest_smape(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _page(monkeypatch, served_api.url)
    assert not page.exception
    metrics = {metric.label: metric.value for metric in page.metric}
    assert metrics["Model"] == f"{served_api.model_name}@prod"
    assert metrics["Version"] == served_api.version
    smape = client.get_model(client.Api(served_api.url))["metrics"]["smape"]
    assert metrics["Backtest SMAPE"] == f"{smape:.2f}%"


def test_forecast_draws_the_served_versions_history_and_one_point_per_period_with_a_table(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _forecast(_page(monkeypatch, served_api.url), horizon=18, level=0.8)
    assert not page.exception
    assert page.subheader[0].value == (
        f"18 months ahead from {served_api.model_name} version {served_api.version}"
    )
    assert _chart_rows(page, "forecast_points") == 18
    assert _drawn(page, "history", "y") == _own(pd.read_csv(AIRLINE), HISTORY_POINTS)
    (table,) = page.dataframe
    assert list(table.value.columns) == ["ds", "yhat", "yhat_lower", "yhat_upper"]
    assert len(table.value) == 18 and table.value["ds"].iloc[0] == "1961-01-01"
    assert page.get("download_button")


def test_a_down_api_gives_a_message_and_a_retry_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = _page(monkeypatch, f"http://127.0.0.1:{process.free_port()}")
    assert not page.exception
    assert "not reachable" in page.error[0].value
    assert [button.label for button in page.button] == ["Retry"]


def test_retry_recovers_once_the_api_is_back(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _page(monkeypatch, f"http://127.0.0.1:{process.free_port()}")
    assert page.error
    monkeypatch.setenv("API_URL", served_api.url)  # the API "comes back"
    page = page.button[0].click().run()
    assert not page.error and not page.exception
    assert {metric.label: metric.value for metric in page.metric}["Version"] == served_api.version


def test_an_api_without_a_model_gives_a_503_message_and_a_retry(
    monkeypatch: pytest.MonkeyPatch, modelless_api: str
) -> None:
    page = _page(monkeypatch, modelless_api)
    assert not page.exception
    assert "no model loaded yet" in page.error[0].value
    assert [button.label for button in page.button] == ["Retry"]


def test_demo_history_overrides_the_apis_history(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi, tmp_path
) -> None:
    older = pd.read_csv(AIRLINE).head(100)  # not what the API keeps: its last 120 points
    older.to_csv(tmp_path / "older.csv", index=False)
    page = _page(monkeypatch, served_api.url, history=str(tmp_path / "older.csv"))
    page = _forecast(page, horizon=3, level=0.9)
    assert _drawn(page, "history", "y") == _own(older, 100)


def test_the_forecast_line_starts_at_the_historys_last_point(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _forecast(_page(monkeypatch, served_api.url), horizon=4, level=0.9)
    line = _drawn(page, "forecast_line", "yhat")
    assert line[0] == _drawn(page, "history", "y")[-1]  # joined: no gap that reads as missing
    assert line[1:] == _drawn(page, "forecast_points", "yhat")


def test_history_that_overlaps_the_forecast_is_left_out(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi, tmp_path
) -> None:
    late = tmp_path / "late.csv"
    late.write_text("ds,y\n1960-12-01,1\n1999-01-01,2\n")
    page = _forecast(_page(monkeypatch, served_api.url, history=str(late)), horizon=3, level=0.9)
    assert not page.exception
    assert any("not drawn" in caption.value for caption in page.caption)
    assert _chart_rows(page, "forecast_points") == 3


def test_a_model_of_several_series_lets_the_user_pick_one_and_draws_its_history(
    monkeypatch: pytest.MonkeyPatch, panel_api: PanelApi
) -> None:
    trained = panel_api.trained
    page = _page(monkeypatch, panel_api.url)
    assert not page.exception
    (picker,) = page.selectbox
    assert list(picker.options) == trained.ids
    assert picker.label.startswith(f"Series ({len(trained.ids)}")
    some = trained.ids[2]
    picker.set_value(some)
    page = _forecast(page, horizon=6, level=0.8)
    assert not page.exception
    assert page.subheader[0].value == (
        f"{some}: 6 months ahead from {panel_api.model_name} version {trained.version}"
    )
    metrics = {metric.label: metric.value for metric in page.metric}
    assert metrics[f"Backtest SMAPE (mean of {len(trained.ids)} series)"].endswith("%")
    assert _chart_rows(page, "forecast_points") == 6
    past = pd.read_csv(trained.data, dtype={"unique_id": str})
    own = past[past["unique_id"] == some]
    assert _drawn(page, "history", "y") == _own(own, HISTORY_POINTS)  # its own, from the API
    page = _page(monkeypatch, panel_api.url, history=str(trained.data))
    page.selectbox[0].set_value(some)
    page = _forecast(page, horizon=6, level=0.8)
    assert _chart_rows(page, "history") == len(own)  # DEMO_HISTORY's: every point of it
    (table,) = page.dataframe
    assert list(table.value.columns) == ["ds", "yhat", "yhat_lower", "yhat_upper"]


def test_a_model_of_one_series_shows_no_series_picker(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _page(monkeypatch, served_api.url)
    assert not page.exception
    assert len(page.selectbox) == 0


def test_the_horizon_is_named_in_the_models_periods_once_a_forecast_shows_them(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _page(monkeypatch, served_api.url)
    assert page.number_input[0].label == "Horizon (periods)"  # nothing has said which yet
    page = _forecast(page, horizon=6, level=0.9)
    assert page.number_input[0].label == "Horizon (months)"
    assert page.number_input[0].value == 6


def test_the_time_axis_ticks_on_the_series_months_with_years(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi, tmp_path
) -> None:
    alone = _page(monkeypatch, served_api.url, history=str(tmp_path / "none.csv"))
    page = _forecast(alone, horizon=6, level=0.9)  # no history: it cannot be read
    axis = _layer(page, "forecast_points")["encoding"]["x"]["axis"]
    assert axis["tickCount"] == {"interval": "month", "step": 1}  # not every other week
    assert axis["format"] == "%b %Y"
    page = _forecast(_page(monkeypatch, served_api.url, history=str(AIRLINE)), 18, 0.9)
    axis = _layer(page, "history")["encoding"]["x"]["axis"]  # 144 + 18 months
    assert (axis["tickCount"], axis["format"]) == ({"interval": "year", "step": 2}, "%Y")


def test_the_legend_draws_the_history_as_a_line_and_the_forecast_as_a_line_with_points(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _forecast(_page(monkeypatch, served_api.url), horizon=6, level=0.9)
    legends = {
        name: _layer(page, name)["encoding"]["color"]["legend"]
        for name in ("history", "forecast_points", "forecast_interval")
    }
    assert legends["history"]["symbolType"] == "stroke"
    assert legends["forecast_points"]["symbolType"].startswith("M")  # a line through a dot
    assert legends["forecast_interval"]["symbolType"] == "square"


def test_an_over_limit_horizon_is_one_sentence_without_retry_and_bounds_the_box(
    monkeypatch: pytest.MonkeyPatch, served_api: ServedApi
) -> None:
    page = _forecast(_page(monkeypatch, served_api.url), horizon=1000, level=0.9)
    assert not page.exception
    assert [error.value for error in page.error] == [
        "The API forecasts at most 365 periods ahead: ask for 365 or fewer."
    ]
    assert [button.label for button in page.button] == ["Forecast"]  # no Retry that cannot help
    (box,) = page.number_input
    assert (box.max, box.value) == (365, 365)
    page = page.button[0].click().run()  # the bounded box's value is one the API takes
    assert not page.error and _chart_rows(page, "forecast_points") == 365
