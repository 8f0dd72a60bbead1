"""The work on one batch of series, as this process, a worker process or a Dask worker runs it:
fit each series with today's selection, or refit a champion's spec on its folds. Plain data in
and out, so a batch pickles small; one series' failure never sinks its batch."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.forecasting import backtest, forecasters
from services.forecasting.backtest import Backtest, Folds
from services.forecasting.forecaster import Forecaster
from services.forecasting.frequency import Frequency
from services.forecasting.panel import EXCLUDED, FLOOR, Panel
from services.forecasting.selection import Selection, select
from services.forecasting.specs import Spec

FLOOR_FAMILIES = ("seasonal_naive",)
TRAINED = "trained"  # the full model fitted (the panel's FLOOR and EXCLUDED otherwise)
SHOWN = 4  # the series a run shows in detail (its plot, backtest table and log): the first ids


@dataclass(frozen=True)
class Task:
    unique_id: str
    y: np.ndarray  # the points to fit (the most recent ones)
    frequency: Frequency
    last_ds: pd.Timestamp
    horizon: int
    families: tuple[str, ...] | None  # None: the default model for the season length
    floor_reason: str = ""  # not "": the data broke a rule, so the floor model only
    shown: bool = False  # keep the `Detail` of its fit

    @property
    def ds(self) -> pd.DatetimeIndex:
        """The dates of `y` (a checked series is on its frequency's grid)."""
        return pd.date_range(end=self.last_ds, periods=self.y.size, freq=self.frequency.alias)


@dataclass(frozen=True)
class Detail:
    """What a run shows of a series: its selection's progress, and its backtest (the forecast of
    each fold, each member's scores) with the folds."""

    progress: tuple[str, ...]
    backtest: Backtest | None
    folds: Folds | None


@dataclass(frozen=True)
class Result:
    unique_id: str
    status: str  # TRAINED, FLOOR or EXCLUDED
    line: str | None  # the series' line of the model artifact; None when left out
    spec: Spec | None
    scores: dict[str, float] | None  # the backtest's; None without one
    naive_smape: float | None  # seasonal naive's on the same folds
    folds: int
    notes: tuple[str, ...]
    reason: str = ""
    detail: Detail | None = None  # for a shown task


def tasks(
    panel: Panel, horizon: int, families: tuple[str, ...] | None, max_points: int
) -> list[Task]:
    """A task per trainable series, on its most recent points (`backtest.window`)."""
    out: list[Task] = []
    for entry in panel.trainable:
        series = entry.series
        assert series is not None
        m = series.frequency.season_length
        points = backtest.window(len(series), horizon, m, max_points)
        out.append(
            Task(
                unique_id=entry.unique_id,
                y=series.y[-points:],
                frequency=series.frequency,
                last_ds=series.ds[-1],
                horizon=horizon,
                families=families,
                floor_reason=entry.reason if entry.status == FLOOR else "",
                shown=len(out) < SHOWN,
            )
        )
    return out


def fit_batch(batch: list[Task]) -> list[Result]:
    with _one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [fit_one(task) for task in batch]


def fit_one(task: Task) -> Result:
    status, reason = (FLOOR, task.floor_reason) if task.floor_reason else (TRAINED, "")
    m = task.frequency.season_length
    progress: list[str] = []
    try:
        families = FLOOR_FAMILIES if reason else task.families
        selection = select(task.y, m, task.horizon, families, progress.append)
    except Exception as exc:  # an unexpected failure: the floor, which fits any series
        status, reason = FLOOR, f"training failed: {type(exc).__name__}: {exc}"
        try:
            selection = select(task.y, m, task.horizon, FLOOR_FAMILIES, progress.append)
        except Exception as floor_exc:
            why = f"{reason}; the floor failed too: {floor_exc}"
            return Result(task.unique_id, EXCLUDED, None, None, None, None, 0, (), why)
    forecaster = Forecaster(selection.fitted, task.frequency, task.last_ds)
    best = selection.backtest
    detail = Detail(tuple(progress), best, selection.folds) if task.shown else None
    return Result(
        unique_id=task.unique_id,
        status=status,
        line=forecasters.line(task.unique_id, forecaster),
        spec=selection.fitted.spec,
        scores=None if best is None else dict(best.scores),
        naive_smape=_naive_smape(selection, task.y, m),
        folds=0 if selection.folds is None else len(selection.folds.origins),
        notes=selection.notes,
        reason=reason,
        detail=detail,
    )


def _naive_smape(selection: Selection, y: np.ndarray, m: int) -> float | None:
    if selection.backtest is None or selection.folds is None:
        return None
    if selection.fitted.spec.family == "seasonal_naive":
        return selection.backtest.smape
    try:
        return backtest.run(Spec("seasonal_naive"), y, selection.folds, m).smape
    except backtest.BacktestFailed:
        return None


@dataclass(frozen=True)
class Rescore:
    """A champion's spec for one series, to refit on the challenger's folds of that series."""

    unique_id: str
    y: np.ndarray
    season_length: int
    horizon: int
    spec: Spec


def rescore_batch(batch: list[Rescore]) -> list[tuple[str, float | None]]:
    """Each series' SMAPE of its champion spec on the folds training used (None: not refitted)."""
    with _one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(task.unique_id, rescore_one(task)) for task in batch]


def rescore_one(task: Rescore) -> float | None:
    try:
        folds = backtest.make_folds(task.y.size, task.horizon, task.season_length)
        return backtest.run(task.spec, task.y, folds, task.season_length).smape
    except Exception:  # too short, or a spec this data cannot refit: not comparable
        return None


def _one_blas_thread() -> Any:
    # Parallel over processes, so each keeps one BLAS thread: limit the loaded pools themselves
    # (variables set after NumPy loaded come too late), as bench/m3.py does.
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
