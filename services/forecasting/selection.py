"""Choose a model: fit every candidate family, backtest each on the same folds, keep the best
by SMAPE. Combinations of the best few are candidates too (they are often the most accurate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.forecasting import backtest
from services.forecasting.backtest import Backtest, BacktestFailed, Folds
from services.forecasting.models import FAMILIES, Spec
from services.forecasting.search import MAX_SEARCH_POINTS, drift, search

DEFAULT_FAMILIES = FAMILIES
COMBO_SIZES = (2, 3)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Selection:
    best: Backtest
    backtests: tuple[Backtest, ...]  # every candidate, best first
    folds: Folds


def candidates(y: np.ndarray, m: int, families: Sequence[str]) -> list[Spec]:
    """The specs to backtest but the searched ARIMA: every ETS trend and season option, Theta
    and the random walk with drift, on each scale the data allows. `y` is the data before the
    first fold."""
    logs = (False, True) if np.all(y > 0) else (False,)
    seasons: tuple[str | None, ...] = (None, "add") if m > 1 and y.size >= 2 * m + 2 else (None,)
    specs: list[Spec] = []
    if "seasonal_naive" in families:
        specs.append(Spec("seasonal_naive"))
    for log in logs:
        if "ets" in families:
            for trend, damped in ((None, False), ("add", False), ("add", True)):
                specs.extend(Spec("ets", log, trend=trend, damped=damped, seasonal=season)
                             for season in seasons)  # fmt: skip
        if "theta" in families:
            specs.append(Spec("theta", log))
        if "arima" in families:
            specs.append(drift(log))
    return specs


def arima_scale(results: Sequence[Backtest]) -> bool:
    """ARIMA is searched on one scale only (the search is the expensive part): the scale of the
    best exponential smoothing model by backtest, raw when there is none."""
    ets = [b for b in results if b.spec.family == "ets"]
    return bool(ets) and min(ets, key=lambda b: b.smape).spec.log


def select(
    y: np.ndarray,
    m: int,
    horizon: int,
    families: Sequence[str] = DEFAULT_FAMILIES,
    progress: Progress = lambda _: None,
) -> Selection:
    """Backtest every candidate on the same rolling-origin folds and pick the lowest SMAPE."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown model families {unknown}; known: {', '.join(FAMILIES)}")
    folds = backtest.make_folds(y.size, horizon, m)
    progress(
        f"backtest: {len(folds.origins)} folds of {folds.horizon} points "
        f"at origins {list(folds.origins)}"
    )
    results = _run_all(candidates(y[: folds.origins[0]], m, families), y, folds, m, progress)
    if "arima" in families:
        # Orders by AIC on the whole window (the most recent MAX_SEARCH_POINTS): searched on the
        # data before the first fold, orders were picked on as little as 40% of it, and scored
        # worse. The backtest still re-estimates the parameters on every fold.
        found = search(y[-MAX_SEARCH_POINTS:], m, arima_scale(results))
        progress(f"  order search: {', '.join(s.label for s in found)}")
        tried = {b.spec for b in results}
        results += _run_all([s for s in found if s not in tried], y, folds, m, progress)
    if not results:
        raise BacktestFailed("no candidate model could be fitted")
    results.sort(key=lambda b: b.smape)
    if "combo" in families:
        results.extend(_combos(results, y, folds, m, progress))
        results.sort(key=lambda b: b.smape)
    return Selection(results[0], tuple(results), folds)


def _run_all(
    specs: Sequence[Spec], y: np.ndarray, folds: Folds, m: int, progress: Progress
) -> list[Backtest]:
    results = []
    for spec in specs:
        try:
            result = backtest.run(spec, y, folds, m)
        except BacktestFailed as exc:
            progress(f"  {spec.label}: skipped ({exc})")
            continue
        progress(f"  {spec.label}: smape {result.smape:.3f}  mase {result.scores['mase']:.3f}")
        results.append(result)
    return results


def _combos(
    ranked: list[Backtest], y: np.ndarray, folds: Folds, m: int, progress: Progress
) -> list[Backtest]:
    pool = [b for b in ranked if b.spec.family != "seasonal_naive"]
    combos = []
    for size in COMBO_SIZES:
        if len(pool) >= size:
            combo = backtest.combine(pool[:size], y, folds, m)
            progress(f"  {combo.spec.label}: smape {combo.smape:.3f}")
            combos.append(combo)
    return combos
