"""Rolling-origin backtest: refit a spec on expanding windows, score the next `horizon` points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.forecasting import metrics
from services.forecasting.models import Combination, FitFailed, GlobalPath, fit
from services.forecasting.specs import GLOBAL, Fitted, Forecast, Spec


@dataclass(frozen=True)
class Folds:
    """Test windows `[origin, origin + horizon)`; each fold trains on everything before it."""

    origins: tuple[int, ...]
    horizon: int

    def split(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(y[:o], y[o : o + self.horizon]) for o in self.origins]


FOLDS = 3


def min_train(season_length: int) -> int:
    """The shortest training window of a fold: two seasons and a little."""
    return max(2 * season_length + 2, 8)


def window(n: int, horizon: int, season_length: int, max_points: int) -> int:
    """How many of the most recent points to fit on: at most `max_points`, unless the horizon
    needs more for a full backtest (its folds, and a horizon or `min_train` before them)."""
    needed = FOLDS * horizon + max(horizon, min_train(season_length))
    return min(n, max(max_points, needed))


def make_folds(n: int, horizon: int, season_length: int, max_folds: int = FOLDS) -> Folds:
    """Up to `max_folds` non-overlapping windows at the end, keeping >= 2 seasons of training.
    (Overlapping windows, a step of h/2 or h/3, scored worse on the development set.)"""
    shortest = min_train(season_length)
    horizon = max(1, min(horizon, n - shortest))
    origins = [n - k * horizon for k in range(max_folds, 0, -1) if n - k * horizon >= shortest]
    if not origins:
        raise ValueError(f"series of {n} points is too short to backtest (needs > {shortest})")
    return Folds(tuple(origins), horizon)


@dataclass(frozen=True)
class Backtest:
    spec: Spec
    forecasts: tuple[Forecast, ...]  # one per fold
    scores: dict[str, float]
    members: tuple[Backtest, ...] = ()  # a mean's members, scored on the same fits

    @property
    def smape(self) -> float:
        return self.scores["smape"]


def score(
    spec: Spec, forecasts: tuple[Forecast, ...], y: np.ndarray, folds: Folds, m: int
) -> Backtest:
    """Mean of each metric over the folds."""
    rows: list[dict[str, float]] = []
    for (train, test), fc in zip(folds.split(y), forecasts, strict=True):
        rows.append(
            {
                "smape": metrics.smape(test, fc.mean),
                "mase": metrics.mase(test, fc.mean, train, m),
                "rmse": metrics.rmse(test, fc.mean),
                "mae": metrics.mae(test, fc.mean),
                "coverage": metrics.coverage(test, fc.lower, fc.upper),
            }
        )
    scores = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    return Backtest(spec, forecasts, scores)


def run(
    spec: Spec,
    y: np.ndarray,
    folds: Folds,
    m: int,
    global_windows: Sequence[np.ndarray | None] | None = None,
) -> Backtest:
    """Refit `spec` (its forms fixed) on each fold's training window; a combination's members
    are scored too, from the same fits, when every fold fitted every member. The global member
    is learned across a panel, not refitted here: `global_windows` holds its forecast of each
    fold (without them, a combination goes on without it)."""
    fits = []
    for i, (train, _) in enumerate(folds.split(y)):
        found = None if global_windows is None else global_windows[i]
        try:
            fits.append(_fit_fold(spec, train, m, folds.horizon, found))
        except FitFailed as exc:
            raise BacktestFailed(str(exc)) from exc
    result = score(spec, tuple(f.forecast(folds.horizon) for f in fits), y, folds, m)
    whole = [f for f in fits if isinstance(f, Combination) and f.spec == spec]
    if len(whole) < len(fits):
        return result
    members = tuple(
        score(member, tuple(f.members[i].forecast(folds.horizon) for f in whole), y, folds, m)
        for i, member in enumerate(spec.members)
    )
    return Backtest(spec, result.forecasts, result.scores, members)


def _fit_fold(
    spec: Spec, train: np.ndarray, m: int, horizon: int, global_forecast: np.ndarray | None
) -> Fitted:
    if GLOBAL not in [f.family for f in spec.members]:
        return fit(spec, train, m, steps=horizon)
    local = Spec(spec.family, members=tuple(f for f in spec.members if f.family != GLOBAL))
    fitted = fit(local, train, m, steps=horizon)
    if global_forecast is None:
        return fitted
    assert isinstance(fitted, Combination)
    by_family = {f.spec.family: f for f in fitted.members}
    members = [
        GlobalPath(s, np.asarray(global_forecast, dtype=float))
        if s.family == GLOBAL
        else by_family[s.family]
        for s in spec.members
        if s.family == GLOBAL or s.family in by_family
    ]
    return Combination(Spec(spec.family, members=tuple(f.spec for f in members)), tuple(members))


class BacktestFailed(RuntimeError):
    pass


def table(backtests: list[Backtest]) -> pd.DataFrame:
    """One row per model, best first."""
    rows = [{"model": b.spec.label, **b.scores} for b in backtests]
    return pd.DataFrame(rows).sort_values("smape", kind="stable").reset_index(drop=True)
