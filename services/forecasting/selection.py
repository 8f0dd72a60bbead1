"""Fit one series' members, on the whole series and on its validation windows.

Each member family picks its form (ETS components, ARIMA orders, ...) on the whole series for
the model that will forecast. For the windows (the last horizons of the series, `backtest.Folds`)
it picks its form again on the data before the first window only, and refits that form on each
window's data: the windows are forecast as they would have been then, without a look at what
followed, at the cost of one more form search per member. What the windows show is weighed
across the panel (`ensemble.choose`) and calibrates the intervals (`calibration.py`).

A series too short for a window is still fitted (and says so); one no family can fit gets the
floor, seasonal naive. The global member is not fitted here: it is learned across the panel
(`global_model.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from services.forecasting import backtest
from services.forecasting.backtest import Folds
from services.forecasting.models import FitFailed, fit
from services.forecasting.specs import FAMILIES, GLOBAL, Fitted, Spec

Progress = Callable[[str], None]
FLOOR = "seasonal_naive"
MEMBERS = ("ets", "ces", "theta", "standard_theta", "arima", GLOBAL)


@dataclass(frozen=True)
class WindowForecast:
    mean: np.ndarray
    spread: np.ndarray


@dataclass(frozen=True)
class Members:
    """A series' members fitted on the whole series (those that fit; the floor always), and
    each one's forecast of each validation window (None where its refit failed)."""

    fitted: dict[str, Fitted]
    folds: Folds | None
    windows: dict[str, tuple[WindowForecast | None, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def floor_only(self) -> bool:
        return set(self.fitted) == {FLOOR}

    def window(self, i: int) -> dict[str, WindowForecast]:
        """Each member's forecast of window `i`, of those that have one."""
        return {f: found for f, w in self.windows.items() if (found := w[i]) is not None}


def families_of(families: Sequence[str] | None) -> tuple[str, ...]:
    """The members a run fits: the default set, or the families asked for (checked)."""
    if families is None:
        return MEMBERS
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown or not families:
        raise ValueError(f"unknown model families {unknown}; known: {', '.join(FAMILIES)}")
    return tuple(families)


def fit_members(
    y: np.ndarray,
    m: int,
    horizon: int,
    families: Sequence[str] | None = None,
    progress: Progress = lambda _: None,
) -> Members:
    """Every local member of `families` (the default set when None), and the floor."""
    notes: list[str] = []
    try:
        folds: Folds | None = backtest.make_folds(y.size, horizon, m)
    except ValueError as exc:
        folds = None
        notes.append(f"no validation windows: {exc}")
    fitted: dict[str, Fitted] = {}
    windows: dict[str, tuple[WindowForecast | None, ...]] = {}
    for family in (*families_of(families), FLOOR):
        if family == GLOBAL or family in fitted:
            continue
        try:
            fitted[family] = fit(Spec(family), y, m, steps=horizon)
        except FitFailed as exc:
            notes.append(f"{family} left out: {exc}")
            continue
        if folds is not None:
            windows[family] = _windows(family, y, m, folds)
    if set(fitted) == {FLOOR} and families != (FLOOR,):
        notes.append("fallback: seasonal naive (no member fitted)")
    progress(f"members: {', '.join(f.spec.label for f in fitted.values())}")
    if folds is not None:
        progress(
            f"validation: {len(folds.origins)} windows of {folds.horizon} points "
            f"at origins {list(folds.origins)}"
        )
    return Members(fitted, folds, windows, tuple(notes))


def _windows(family: str, y: np.ndarray, m: int, folds: Folds) -> tuple[WindowForecast | None, ...]:
    """The family's forecast of each window, its form picked on the first window's data."""
    first, *later = folds.origins
    try:
        early = fit(Spec(family), y[:first], m, steps=folds.horizon)
    except FitFailed:
        return (None,) * len(folds.origins)
    out: list[WindowForecast | None] = [_forecast(early, folds.horizon)]
    for origin in later:
        try:
            out.append(
                _forecast(fit(early.spec, y[:origin], m, steps=folds.horizon), folds.horizon)
            )
        except FitFailed:
            out.append(None)
    return tuple(out)


def _forecast(fitted: Fitted, horizon: int) -> WindowForecast:
    return WindowForecast(fitted.forecast(horizon).mean, fitted.spread(horizon))
