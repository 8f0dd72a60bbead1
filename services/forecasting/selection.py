"""Fit the model and score it: the default combination for the series' season length (or the
mean of the families asked for), each member in the form it picks on the whole series, then a
rolling-origin backtest of those forms.

No candidate is chosen by backtest: on short series its folds are too few and too noisy to
choose well, and a fixed combination of strong models forecasts better (M3, `make bench`). The
backtest scores the model for its metrics and for promotion. A series too short for it is
still fitted (and says so); one no family can fit gets the floor, seasonal naive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.forecasting import backtest
from services.forecasting.backtest import Backtest, BacktestFailed, Folds
from services.forecasting.models import FitFailed, fit
from services.forecasting.specs import FAMILIES, Fitted, Spec, default_spec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Selection:
    fitted: Fitted  # on the whole series
    backtest: Backtest | None  # None when the series is too short, or its folds failed to fit
    folds: Folds | None
    notes: tuple[str, ...] = ()  # what was not as usual: no backtest, a fallback

    @property
    def backtests(self) -> tuple[Backtest, ...]:
        """The model's backtest and its members', for the run's table."""
        return () if self.backtest is None else (self.backtest, *self.backtest.members)


def select(
    y: np.ndarray,
    m: int,
    horizon: int,
    families: Sequence[str] | None = None,
    progress: Progress = lambda _: None,
) -> Selection:
    """`families`: None for the default model (`default_spec`), else the mean of these."""
    if families is None:
        spec = default_spec(m)
    else:
        unknown = sorted(set(families) - set(FAMILIES))
        if unknown or not families:
            raise ValueError(f"unknown model families {unknown}; known: {', '.join(FAMILIES)}")
        spec = Spec.of(families)
    notes: list[str] = []
    try:
        fitted = fit(spec, y, m, steps=horizon)
    except FitFailed as exc:
        notes.append(f"fallback: seasonal naive ({exc})")
        fitted = fit(Spec("seasonal_naive"), y, m)
    progress(f"model: {fitted.spec.label}")
    try:
        folds = backtest.make_folds(y.size, horizon, m)
    except ValueError as exc:
        notes.append(f"no backtest: {exc}")
        return Selection(fitted, None, None, tuple(notes))
    progress(
        f"backtest: {len(folds.origins)} folds of {folds.horizon} points "
        f"at origins {list(folds.origins)}"
    )
    try:
        result = backtest.run(fitted.spec, y, folds, m)
    except BacktestFailed as exc:
        notes.append(f"no backtest: {exc}")
        return Selection(fitted, None, folds, tuple(notes))
    for b in (result, *result.members):
        progress(f"  {b.spec.label}: smape {b.smape:.3f}  mase {b.scores['mase']:.3f}")
    return Selection(fitted, result, folds, tuple(notes))
