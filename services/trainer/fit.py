"""The work on one batch of series, as this process, a worker process or a Dask worker runs it:
fit each series' members (`selection.fit_members`), or refit a champion's spec on its folds.
Plain data in and out, so a batch pickles small; one series' failure never sinks its batch.
Then, in the trainer's process, the panel's step (`results`) turns the members into each
series' model."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.forecasting import backtest, forecasters, panelfit
from services.forecasting.backtest import FOLDS, Backtest, Folds
from services.forecasting.forecaster import Forecaster
from services.forecasting.frequency import Frequency
from services.forecasting.global_model import GlobalForecasts, forecast_panel
from services.forecasting.panel import EXCLUDED, FLOOR, Panel
from services.forecasting.panelfit import PanelFit, SeriesFit, finish
from services.forecasting.selection import Members, families_of, fit_members
from services.forecasting.specs import GLOBAL, Spec

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
class Fitting:
    """A worker's work on one series: its members, fitted on the whole series and on its
    validation windows (None when even the floor failed)."""

    unique_id: str
    status: str  # TRAINED, FLOOR or EXCLUDED
    members: Members | None
    reason: str = ""
    progress: tuple[str, ...] = ()


@dataclass(frozen=True)
class Detail:
    """What a run shows of a series: its fitting's progress, and its backtest (the forecast of
    each validation window, each member's scores) with the windows."""

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


def fit_batch(batch: list[Task]) -> list[Fitting]:
    with _one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [fit_one(task) for task in batch]


def fit_one(task: Task) -> Fitting:
    status, reason = (FLOOR, task.floor_reason) if task.floor_reason else (TRAINED, "")
    m = task.frequency.season_length
    progress: list[str] = []
    try:
        families = FLOOR_FAMILIES if reason else task.families
        members = fit_members(task.y, m, task.horizon, families, progress.append)
    except Exception as exc:  # an unexpected failure: the floor, which fits any series
        status, reason = FLOOR, f"training failed: {type(exc).__name__}: {exc}"
        try:
            members = fit_members(task.y, m, task.horizon, FLOOR_FAMILIES, progress.append)
        except Exception as floor_exc:
            why = f"{reason}; the floor failed too: {floor_exc}"
            return Fitting(task.unique_id, EXCLUDED, None, why)
    if members.floor_only and status == TRAINED and GLOBAL not in families_of(task.families):
        status, reason = FLOOR, "; ".join(members.notes) or "no member fitted"
    return Fitting(task.unique_id, status, members, reason, tuple(progress))


def learn_global(
    tasks: Sequence[Task],
    fittings: Sequence[Fitting],
    path: int,
    scheduler: str | None = None,
) -> GlobalForecasts | None:
    """The global member, learned across the series that trained (not the floor's), when the
    run fits it: its forecast of each validation window (the last `k` horizons held out) and
    its path of `path` points (at least the horizon) after each series' end."""
    trained = {f.unique_id for f in fittings if f.status == TRAINED}
    chosen = [t for t in tasks if t.unique_id in trained]
    if not chosen or GLOBAL not in families_of(chosen[0].families):
        return None
    first = chosen[0]
    return forecast_panel(
        {t.unique_id: t.y for t in chosen},
        {t.unique_id: t.last_ds for t in chosen},
        first.frequency.alias,
        first.frequency.season_length,
        first.horizon,
        cuts=[k * first.horizon for k in range(1, FOLDS + 1)],
        path=max(path, first.horizon),
        scheduler=scheduler,
    )


def results(
    tasks: Sequence[Task],
    fittings: Sequence[Fitting],
    learned: GlobalForecasts | None,
    families: Sequence[str] | None,
) -> tuple[dict[str, Result], PanelFit]:
    """The panel's step (`panelfit.finish`: the global member, the choice of combination, the
    calibration), then each series' model line and scores."""
    global_member = panelfit.global_member(learned, tasks[0].horizon if tasks else 1)
    by_id = {t.unique_id: t for t in tasks}
    found = {f.unique_id: f.members for f in fittings if f.members is not None}
    m = tasks[0].frequency.season_length if tasks else 1
    ys = {uid: by_id[uid].y for uid in found}
    panel_fit = finish(found, ys, m, global_member, families)
    out = {}
    for fitting in fittings:
        task, series = by_id[fitting.unique_id], panel_fit.series.get(fitting.unique_id)
        out[task.unique_id] = _result(task, fitting, series)
    return out, panel_fit


def _result(task: Task, fitting: Fitting, series: SeriesFit | None) -> Result:
    if series is None or fitting.members is None:
        return Result(task.unique_id, EXCLUDED, None, None, None, None, 0, (), fitting.reason)
    members = fitting.members
    status, reason = fitting.status, fitting.reason
    if status == TRAINED and series.fitted.spec == Spec(FLOOR_FAMILIES[0]):
        status, reason = FLOOR, "; ".join(members.notes) or "no member fitted"
    forecaster = Forecaster(series.fitted, task.frequency, task.last_ds)
    best = series.backtest
    detail = Detail(fitting.progress, best, members.folds) if task.shown else None
    return Result(
        unique_id=task.unique_id,
        status=status,
        line=forecasters.line(task.unique_id, forecaster),
        spec=series.fitted.spec,
        scores=None if best is None else dict(best.scores),
        naive_smape=series.naive_smape,
        folds=0 if members.folds is None else len(members.folds.origins),
        notes=members.notes,
        reason=reason,
        detail=detail,
    )


@dataclass(frozen=True)
class Rescore:
    """A champion's spec for one series, to refit on the challenger's folds of that series."""

    unique_id: str
    y: np.ndarray
    season_length: int
    horizon: int
    spec: Spec
    # The global member's forecast of each fold, from the challenger's run (the same learner on
    # the same data): a champion that has one is refitted with it, as it was trained.
    global_windows: tuple[np.ndarray | None, ...] | None = None


def rescore_batch(batch: list[Rescore]) -> list[tuple[str, float | None]]:
    """Each series' SMAPE of its champion spec on the folds training used (None: not refitted)."""
    with _one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(task.unique_id, rescore_one(task)) for task in batch]


def rescore_one(task: Rescore) -> float | None:
    try:
        folds = backtest.make_folds(task.y.size, task.horizon, task.season_length)
        return backtest.run(task.spec, task.y, folds, task.season_length, task.global_windows).smape
    except Exception:  # too short, or a spec this data cannot refit: not comparable
        return None


def _one_blas_thread() -> Any:
    # Parallel over processes, so each keeps one BLAS thread: limit the loaded pools themselves
    # (variables set after NumPy loaded come too late), as bench/m3.py does.
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
