"""The forecast chart: history as a line, the forecast as a line with a point per period (its line
starting from the history's last point), and its prediction interval as a band; the time axis
ticked on the series' own periods."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from services.demo import periods
from services.demo.periods import PERIOD, Unit

# SVG (Streamlit switches large charts to canvas) keeps one element per point, so a browser
# test can count the forecast's points; the names make those elements findable.
POINTS = "forecast_points"
LINE = "forecast_line"
PAST_POINTS = "history_points"
COLORS = {"history": "#4c78a8", "forecast": "#f58518", "interval": "#f58518"}
BAND_OPACITY = 0.25
# Each legend entry is drawn as its layer is: the history a line, the forecast a line through a
# point (an SVG path in Vega's unit square), the interval a pale square.
SYMBOLS: dict[str, dict[str, Any]] = {
    "history": {"symbolType": "stroke", "symbolStrokeWidth": 2},
    "forecast": {
        "symbolType": "M-1,0H-0.3A0.3,0.3,0,1,1,0.3,0A0.3,0.3,0,1,1,-0.3,0M0.3,0H1",
        "symbolStrokeColor": COLORS["forecast"],
        "symbolStrokeWidth": 2,
        "symbolSize": 200,
    },
    "interval": {"symbolType": "square", "symbolOpacity": BAND_OPACITY},
}


def forecast_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The API's forecast rows as a frame with real dates."""
    frame = pd.DataFrame(rows, columns=["ds", "yhat", "yhat_lower", "yhat_upper"])
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def _layer(data: pd.DataFrame, kind: str, name: str, legend: bool = True) -> alt.Chart:
    """A chart of `data` in `kind`'s colour, named `name` in its own one-entry legend. (One
    legend per layer: Vega-Lite gives every entry of a shared legend the same symbol.)"""
    scale = alt.Scale(domain=[name], range=[COLORS[kind]])
    key = alt.Legend(title=None, orient="top", **SYMBOLS[kind]) if legend else None
    return (
        alt.Chart(data)
        .transform_calculate(series=f"'{name}'")
        .encode(color=alt.Color("series:N", scale=scale, legend=key))
    )


def _joined(history: pd.DataFrame, forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast's line from the history's last point: a gap between them reads as missing
    data."""
    last = history[["ds", "y"]].tail(1).rename(columns={"y": "yhat"})
    return pd.concat([last, forecast[["ds", "yhat"]]], ignore_index=True)


def _past(history: pd.DataFrame, x: alt.X, unit: Unit) -> list[alt.Chart]:
    """The history as a line, and an invisible point per period that shows its date and value
    on hover (and names them in the SVG, where a browser test reads them)."""
    line = _layer(history, "history", "history").mark_line().encode(x=x, y="y:Q")
    day = "%Y-%m-%d %H:%M" if unit.singular == "hour" else "%Y-%m-%d"
    hover = (
        _layer(history, "history", "history", legend=False)
        .mark_point(filled=True, size=30, opacity=0)
        .encode(
            x=x,
            y="y:Q",
            tooltip=[alt.Tooltip("ds:T", title="date", format=day), alt.Tooltip("y:Q", title="y")],
        )
    )
    return [line.properties(name="history"), hover.properties(name=PAST_POINTS)]


def build(
    forecast: pd.DataFrame, history: pd.DataFrame | None, level: float, unit: Unit = PERIOD
) -> alt.LayerChart:
    """The chart of `forecast` after `history`, its time axis ticked on `unit`'s periods."""
    drawn = len(forecast) + (0 if history is None else len(history))
    x = alt.X("ds:T", title="date", axis=periods.axis(unit, drawn))
    band = (
        _layer(forecast, "interval", f"{level:.0%} interval")
        .mark_area(opacity=BAND_OPACITY)
        .encode(x=x, y=alt.Y("yhat_lower:Q", title="value"), y2="yhat_upper:Q")
        .properties(name="forecast_interval")
    )
    joined = forecast if history is None else _joined(history, forecast)
    line = _layer(joined, "forecast", "forecast", legend=False).mark_line()
    points = (
        _layer(forecast, "forecast", "forecast")
        .mark_point(filled=True, size=30)
        .encode(
            tooltip=[
                alt.Tooltip("ds:T", title="date"),
                alt.Tooltip("yhat:Q", title="forecast", format=",.1f"),
                alt.Tooltip("yhat_lower:Q", title=f"lower ({level:.0%})", format=",.1f"),
                alt.Tooltip("yhat_upper:Q", title=f"upper ({level:.0%})", format=",.1f"),
            ],
        )
        .properties(name=POINTS)
    )
    line = line.encode(x=x, y="yhat:Q").properties(name=LINE)
    layers = [line, points.encode(x=x, y="yhat:Q"), band]
    if history is not None:
        layers = [*_past(history, x, unit), *layers]
    return (
        alt.LayerChart(layer=layers)
        .resolve_scale(color="independent")
        .properties(usermeta={"embedOptions": {"renderer": "svg"}})
    )
