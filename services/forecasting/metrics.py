"""Forecast accuracy metrics. SMAPE is in percent (0 to 200); lower is better but for coverage."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _pair(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    if a.shape != f.shape or a.size == 0:
        raise ValueError(
            f"actual and forecast must be non-empty and equal in shape: {a.shape} vs {f.shape}"
        )
    return a, f


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Symmetric MAPE, 200 * mean(|a - f| / (|a| + |f|)); a term with a = f = 0 counts as 0."""
    a, f = _pair(actual, forecast)
    denom = np.abs(a) + np.abs(f)
    terms = np.divide(2.0 * np.abs(a - f), denom, out=np.zeros_like(a), where=denom > 0)
    return float(100.0 * terms.mean())


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    a, f = _pair(actual, forecast)
    return float(np.abs(a - f).mean())


def rmse(actual: ArrayLike, forecast: ArrayLike) -> float:
    a, f = _pair(actual, forecast)
    return float(np.sqrt(((a - f) ** 2).mean()))


def naive_scale(history: ArrayLike, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast: the denominator of MASE."""
    y = np.asarray(history, dtype=float)
    m = season_length if y.size > season_length else 1
    if y.size <= m:
        raise ValueError(f"MASE needs more than {m} history points, got {y.size}")
    return float(np.abs(y[m:] - y[:-m]).mean())


def mase(actual: ArrayLike, forecast: ArrayLike, history: ArrayLike, season_length: int) -> float:
    """Mean absolute scaled error: MAE over the seasonal naive in-sample MAE (inf if that is 0)."""
    scale = naive_scale(history, season_length)
    error = mae(actual, forecast)
    if scale == 0:
        return 0.0 if error == 0 else float("inf")
    return error / scale


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actual values inside [lower, upper]."""
    a, lo = _pair(actual, lower)
    _, hi = _pair(actual, upper)
    return float(((a >= lo) & (a <= hi)).mean())


def msis(
    actual: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    history: ArrayLike,
    season_length: int,
    level: float = 0.95,
) -> float:
    """Mean scaled interval score (the M4 competition's): the interval's width plus 2 / alpha
    times each miss, over the seasonal naive in-sample MAE (inf if that is 0)."""
    a, lo = _pair(actual, lower)
    _, hi = _pair(actual, upper)
    alpha = 1 - level
    score = (hi - lo) + 2 / alpha * ((lo - a) * (a < lo) + (a - hi) * (a > hi))
    scale = naive_scale(history, season_length)
    return float(score.mean() / scale) if scale else float("inf")
