"""The forecast chart: history as a line, the forecast as a line with a point per period, and
its prediction interval as a band."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

# SVG (Streamlit switches large charts to canvas) keeps one element per point, so a browser
# test can count the forecast's points; the names make those elements findable.
POINTS = "forecast_points"
COLORS = {"history": "#4c78a8", "forecast": "#f58518", "interval": "#f58518"}


def forecast_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The API's forecast rows as a frame with real dates."""
    frame = pd.DataFrame(rows, columns=["ds", "yhat", "yhat_lower", "yhat_upper"])
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def build(forecast: pd.DataFrame, history: pd.DataFrame | None, level: float) -> alt.LayerChart:
    x = alt.X("ds:T", title="date")
    interval = f"{level:.0%} interval"
    names = ["history", "forecast", interval] if history is not None else ["forecast", interval]
    scale = alt.Scale(domain=names, range=[COLORS[name.split()[-1]] for name in names])
    color = alt.Color("series:N", scale=scale, legend=alt.Legend(title=None, orient="top-left"))

    def layer(data: pd.DataFrame, name: str) -> alt.Chart:
        """A chart of `data` whose legend entry is `name`."""
        return alt.Chart(data).transform_calculate(series=f"'{name}'")

    band = (
        layer(forecast, interval)
        .mark_area(opacity=0.25)
        .encode(x=x, y=alt.Y("yhat_lower:Q", title="value"), y2="yhat_upper:Q", color=color)
        .properties(name="forecast_interval")
    )
    line = layer(forecast, "forecast").mark_line().encode(x=x, y="yhat:Q", color=color)
    points = (
        layer(forecast, "forecast")
        .mark_point(filled=True, size=30)
        .encode(
            x=x,
            y="yhat:Q",
            color=color,
            tooltip=[
                alt.Tooltip("ds:T", title="date"),
                alt.Tooltip("yhat:Q", title="forecast", format=",.1f"),
                alt.Tooltip("yhat_lower:Q", title=f"lower ({level:.0%})", format=",.1f"),
                alt.Tooltip("yhat_upper:Q", title=f"upper ({level:.0%})", format=",.1f"),
            ],
        )
        .properties(name=POINTS)
    )
    layers: list[alt.Chart] = [band, line, points]
    if history is not None:
        past = layer(history, "history").mark_line().encode(x=x, y="y:Q", color=color)
        layers.insert(0, past.properties(name="history"))
    return alt.LayerChart(layer=layers).properties(usermeta={"embedOptions": {"renderer": "svg"}})
