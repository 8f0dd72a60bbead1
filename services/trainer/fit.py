"""The work on one batch of series, as a worker process (or a Dask worker) runs it: fit each
series with today's selection, or refit a champion's spec on its folds. Plain data in and out,
so a batch pickles small; one series' failure never sinks its batch."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.forecasting import backtest, forecasters
from services.forecasting.forecaster import Forecaster
from services.forecasting.frequency import Frequency
from services.forecasting.models import Spec
from services.forecasting.panel import EXCLUDED, FLOOR
from services.forecasting.selection import Selection, select

FLOOR_FAMILIES = ("seasonal_naive",)
TRAINED = "trained"  # the full model fitted (the panel's FLOOR and EXCLUDED otherwise)


@dataclass(frozen=True)
class Task:
    unique_id: str
    y: np.ndarray  # the points to fit (the most recent ones)
    frequency: Frequency
    last_ds: pd.Timestamp
    horizon: int
    families: tuple[str, ...] | None  # None: the default model for the season length
    floor_reason: str = ""  # not "": the data broke a rule, so the floor model only


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


def fit_batch(tasks: list[Task]) -> list[Result]:
    with _one_blas_thread():
        return [fit_one(task) for task in tasks]


def fit_one(task: Task) -> Result:
    warnings.simplefilter("ignore")
    status, reason = (FLOOR, task.floor_reason) if task.floor_reason else (TRAINED, "")
    m = task.frequency.season_length
    try:
        selection = select(task.y, m, task.horizon, FLOOR_FAMILIES if reason else task.families)
    except Exception as exc:  # an unexpected failure: the floor, which fits any series
        status, reason = FLOOR, f"training failed: {type(exc).__name__}: {exc}"
        try:
            selection = select(task.y, m, task.horizon, FLOOR_FAMILIES)
        except Exception as floor_exc:
            why = f"{reason}; the floor failed too: {floor_exc}"
            return Result(task.unique_id, EXCLUDED, None, None, None, None, 0, (), why)
    forecaster = Forecaster(selection.fitted, task.frequency, task.last_ds)
    best = selection.backtest
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


def rescore_batch(tasks: list[Rescore]) -> list[tuple[str, float | None]]:
    """Each series' SMAPE of its champion spec on the folds training used (None: not refitted)."""
    with _one_blas_thread():
        return [(task.unique_id, rescore_one(task)) for task in tasks]


def rescore_one(task: Rescore) -> float | None:
    warnings.simplefilter("ignore")
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
