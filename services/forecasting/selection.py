"""Choose a model: fit every candidate family, backtest each on the same folds, keep the best
by SMAPE. Combinations of the best few are candidates too (they are often the most accurate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.forecasting import backtest
from services.forecasting.backtest import Backtest, BacktestFailed, Folds
from services.forecasting.models import FAMILIES, Spec
from services.forecasting.search import search_arima, seasonal_strength

DEFAULT_FAMILIES = FAMILIES
COMBO_SIZES = (2, 3)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Selection:
    best: Backtest
    backtests: tuple[Backtest, ...]  # every candidate, best first
    folds: Folds


def candidates(y: np.ndarray, m: int, families: Sequence[str], progress: Progress) -> list[Spec]:
    """The specs to backtest, with ARIMA orders searched on `y` (data before the folds)."""
    logs = (False, True) if np.all(y > 0) else (False,)
    specs: list[Spec] = []
    if "seasonal_naive" in families:
        specs.append(Spec("seasonal_naive"))
    if "ets" in families:
        seasonal = (
            m > 1
            and y.size >= 2 * m + 2
            and seasonal_strength(np.log(y) if logs[-1] else y, m) > 0.3
        )
        for log in logs:
            for trend, damped in ((None, False), ("add", False), ("add", True)):
                specs.append(
                    Spec(
                        "ets", log, trend=trend, damped=damped, seasonal="add" if seasonal else None
                    )
                )
    if "theta" in families:
        specs.extend(Spec("theta", log) for log in logs)
    if "arima" in families:
        for log in logs:
            spec = search_arima(y, m, log)
            progress(f"  order search{' (log)' if log else ''}: {spec.label}")
            specs.append(spec)
    return specs


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
    results: list[Backtest] = []
    for spec in candidates(y[: folds.origins[0]], m, families, progress):
        try:
            result = backtest.run(spec, y, folds, m)
        except BacktestFailed as exc:
            progress(f"  {spec.label}: skipped ({exc})")
            continue
        progress(f"  {spec.label}: smape {result.smape:.3f}  mase {result.scores['mase']:.3f}")
        results.append(result)
    if not results:
        raise BacktestFailed("no candidate model could be fitted")
    results.sort(key=lambda b: b.smape)
    if "combo" in families:
        results.extend(_combos(results, y, folds, m, progress))
        results.sort(key=lambda b: b.smape)
    return Selection(results[0], tuple(results), folds)


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
