"""The forecast plot logged with every run: one panel per shown series (a run of one series:
its one), with its history, its backtest folds' forecasts and its forecast with the interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from services.trainer.fit import Detail, Task


@dataclass(frozen=True)
class Shown:
    task: Task
    label: str  # the series' model
    future: pd.DataFrame  # its forecast: ds, yhat, yhat_lower, yhat_upper
    detail: Detail


def forecast_figure(shown: list[Shown], title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 1 + 3.5 * len(shown)), dpi=100)
    for ax, one in zip([axes] if len(shown) == 1 else list(axes), shown, strict=True):
        _draw(ax, one)
        ax.set_title(f"{one.task.unique_id}: {one.label}" if len(shown) > 1 else one.label)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw(ax: Any, one: Shown) -> None:
    ds, y = one.task.ds, one.task.y
    ax.plot(ds, y, color="#1f3b57", lw=1.4, label="history")
    backtest, folds = one.detail.backtest, one.detail.folds
    if backtest is not None and folds is not None:
        for origin, fc in zip(folds.origins, backtest.forecasts, strict=True):
            dates = ds[origin : origin + folds.horizon]
            ax.plot(dates, fc.mean[: len(dates)], color="#e07b39", lw=1, ls="--")
    future_dates = pd.to_datetime(one.future["ds"])
    ax.fill_between(
        future_dates,
        one.future["yhat_lower"],
        one.future["yhat_upper"],
        color="#2a9d8f",
        alpha=0.25,
        label="95% interval",
    )
    ax.plot(future_dates, one.future["yhat"], color="#2a9d8f", lw=1.8, label="forecast")
    ax.plot([], [], color="#e07b39", ls="--", label="backtest folds")
    ax.legend(loc="upper left")
