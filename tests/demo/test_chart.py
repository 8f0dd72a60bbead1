"""The chart's layers as Vega-Lite receives them: no API, no browser."""

from __future__ import annotations

from typing import Any

import pandas as pd

from services.demo import chart

FORECAST = chart.forecast_frame(
    [
        {"ds": "2024-01-03", "yhat": 8.0, "yhat_lower": 6.0, "yhat_upper": 9.0},
        {"ds": "2024-01-04", "yhat": 9.0, "yhat_lower": 7.0, "yhat_upper": 11.0},
    ]
)
HISTORY = pd.DataFrame({"ds": pd.to_datetime(["2024-01-01", "2024-01-02"]), "y": [5.0, 7.0]})


def drawn(spec: dict[str, Any], name: str, value: str) -> list[tuple[str, float]]:
    (layer,) = [part for part in spec["layer"] if part.get("name") == name]
    rows = spec["datasets"][layer.get("data", spec.get("data", {})).get("name")]
    return [(str(row["ds"])[:10], row[value]) for row in rows]


def test_the_forecast_line_starts_at_the_historys_last_point() -> None:
    spec = chart.build(FORECAST, HISTORY, 0.9).to_dict()
    assert drawn(spec, chart.LINE, "yhat") == [
        ("2024-01-02", 7.0),
        ("2024-01-03", 8.0),
        ("2024-01-04", 9.0),
    ]
    assert drawn(spec, chart.POINTS, "yhat") == [("2024-01-03", 8.0), ("2024-01-04", 9.0)]


def test_without_history_the_forecast_line_is_the_forecast_alone() -> None:
    spec = chart.build(FORECAST, None, 0.9).to_dict()
    assert drawn(spec, chart.LINE, "yhat") == [("2024-01-03", 8.0), ("2024-01-04", 9.0)]


def test_each_history_point_shows_its_date_and_value_on_hover() -> None:
    spec = chart.build(FORECAST, HISTORY, 0.9).to_dict()
    assert drawn(spec, chart.PAST_POINTS, "y") == [("2024-01-01", 5.0), ("2024-01-02", 7.0)]
    (layer,) = [part for part in spec["layer"] if part.get("name") == chart.PAST_POINTS]
    assert [tip["field"] for tip in layer["encoding"]["tooltip"]] == ["ds", "y"]
    assert layer["mark"]["opacity"] == 0  # the line draws the history; these only answer hover
