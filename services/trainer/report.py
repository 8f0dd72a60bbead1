"""The forecast plot logged with every run."""

from __future__ import annotations

from typing import Any

import pandas as pd

from services.forecasting.data import Series
from services.forecasting.selection import Selection


def forecast_figure(series: Series, future: pd.DataFrame, selection: Selection, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.plot(series.ds, series.y, color="#1f3b57", lw=1.4, label="history")
    if selection.backtest is not None and selection.folds is not None:
        folds = selection.folds
        for origin, fc in zip(folds.origins, selection.backtest.forecasts, strict=True):
            dates = series.ds[origin : origin + folds.horizon]
            ax.plot(dates, fc.mean[: len(dates)], color="#e07b39", lw=1, ls="--")
    future_dates = pd.to_datetime(future["ds"])
    ax.fill_between(
        future_dates,
        future["yhat_lower"],
        future["yhat_upper"],
        color="#2a9d8f",
        alpha=0.25,
        label="95% interval",
    )
    ax.plot(future_dates, future["yhat"], color="#2a9d8f", lw=1.8, label="forecast")
    ax.plot([], [], color="#e07b39", ls="--", label="backtest folds")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
