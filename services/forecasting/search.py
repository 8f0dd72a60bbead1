"""ARIMA order search: differencing by unit-root tests, then a stepwise AIC search (the
Hyndman-Khandakar scheme, trimmed to a bounded number of fits); and the two ARIMA forms the
stepwise search cannot reach: a long autoregression and the random walk with drift."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from services.forecasting.models import Spec, transform

MAX_SEASONAL_PERIOD = 24  # beyond this a seasonal SARIMAX is too slow to search; ETS/Theta cover it
# 12 rather than 20 fits: the same SMAPE on the dev and holdout sets, a third less search time.
MAX_FITS = 12
# Orders are searched on the most recent points only: each fit is linear in the length, and the
# orders of a long series are as well identified by its last few hundred points.
MAX_SEARCH_POINTS = 300


def seasonal_strength(z: np.ndarray, m: int) -> float:
    """STL-based strength of seasonality in [0, 1] (Wang, Smith and Hyndman, 2006)."""
    from statsmodels.tsa.seasonal import STL

    if m < 2 or z.size < 2 * m + 1:
        return 0.0
    res = STL(z, period=m, robust=True).fit()
    remainder, seasonal = np.asarray(res.resid), np.asarray(res.seasonal)
    denom = np.var(remainder + seasonal)
    return float(max(0.0, 1.0 - np.var(remainder) / denom)) if denom > 0 else 0.0


def n_diffs(z: np.ndarray, max_d: int = 2) -> int:
    """Differences needed for level stationarity by the KPSS test at 5%."""
    from statsmodels.tsa.stattools import kpss

    d = 0
    while d < max_d and z.size > 10:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # KPSS warns when p is outside its table
            # Short lag truncation, as auto.arima uses: trunc(3 * sqrt(n) / 13).
            p_value = kpss(z, regression="c", nlags=int(3 * np.sqrt(z.size) / 13))[1]
        if p_value >= 0.05:
            break
        z, d = np.diff(z), d + 1
    return d


def drift(log: bool) -> Spec:
    """The random walk with drift: the last value plus the average change (a standard
    benchmark, and the stepwise search reaches it only when a unit-root test says so)."""
    return Spec("arima", log, (0, 1, 0), (0, 0, 0, 0), "c")


def long_ar(y: np.ndarray, log: bool) -> Spec:
    """AR(p) with a mean, p by AIC up to R `ar`'s default of 10 log10(n) lags (OLS fits, so the
    choice is cheap). The stepwise search stops at p = 3, short of cycles such as sunspots'."""
    from statsmodels.tsa.ar_model import ar_select_order

    z = transform(y, log)
    max_lag = int(min(10 * np.log10(z.size), (z.size - 2) // 3))  # OLS needs 3 points a lag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lags = ar_select_order(z, maxlag=max_lag, ic="aic", trend="c").ar_lags
    return Spec("arima", log, (max(lags or [0]), 0, 0), (0, 0, 0, 0), "c")


def _aic(spec: Spec, z: np.ndarray) -> float:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # Differencing up front shrinks the state vector (by m for a seasonal difference):
            # several times faster, and AIC stays comparable because d and D are fixed here.
            res = SARIMAX(
                z,
                order=spec.order,
                seasonal_order=spec.seasonal_order,
                trend=spec.trend,
                simple_differencing=True,
            ).fit(disp=False, maxiter=50)
        except (ValueError, np.linalg.LinAlgError):
            return np.inf
    aic = float(res.aic)
    return aic if np.isfinite(aic) else np.inf


def _neighbours(spec: Spec, seasonal: bool, trends: tuple[str, ...]) -> Iterator[Spec]:
    assert spec.order and spec.seasonal_order
    p, d, q = spec.order
    P, D, Q, m = spec.seasonal_order
    for dp, dq in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)):
        if 0 <= p + dp <= 3 and 0 <= q + dq <= 3:
            yield Spec("arima", spec.log, (p + dp, d, q + dq), (P, D, Q, m), spec.trend)
    if seasonal:
        for dP, dQ in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= P + dP <= 2 and 0 <= Q + dQ <= 2:
                yield Spec("arima", spec.log, (p, d, q), (P + dP, D, Q + dQ, m), spec.trend)
    for trend in trends:
        if trend != spec.trend:
            yield Spec("arima", spec.log, (p, d, q), (P, D, Q, m), trend)


def search_arima(y: np.ndarray, m: int, log: bool) -> Spec:
    """The ARIMA spec with the lowest AIC found within `MAX_FITS` fits."""
    z = transform(y, log)
    seasonal = 1 < m <= MAX_SEASONAL_PERIOD and z.size >= 3 * m
    D = int(seasonal and seasonal_strength(z, m) >= 0.64)
    d = n_diffs(z[m:] - z[:-m] if D else z)
    # A mean without differencing; after one difference SARIMAX's constant acts as a drift.
    trends = {0: ("c",), 1: ("n", "c")}.get(d + D, ("n",))
    sm = m if seasonal else 0
    starts = [((2, 2), (1, 1)), ((0, 0), (0, 0)), ((1, 0), (1, 0)), ((0, 1), (0, 1))]
    scores: dict[Spec, float] = {}
    for (p, q), (P, Q) in starts:
        spec = Spec("arima", log, (p, d, q), (P * seasonal, D, Q * seasonal, sm), trends[0])
        if spec not in scores:
            scores[spec] = _aic(spec, z)
    best = min(scores, key=scores.__getitem__)
    improved = True
    while improved and len(scores) < MAX_FITS:
        improved = False
        for candidate in _neighbours(best, seasonal, trends):
            if candidate in scores or len(scores) >= MAX_FITS:
                continue
            scores[candidate] = _aic(candidate, z)
            if scores[candidate] < scores[best]:
                best, improved = candidate, True
                break
    return best


def search(y: np.ndarray, m: int, log: bool) -> list[Spec]:
    """The stepwise search's ARIMA; and when it needs no differencing, a long autoregression
    too (the backtest decides between them)."""
    best = search_arima(y, m, log)
    assert best.order and best.seasonal_order
    if best.order[1] or best.seasonal_order[1]:
        return [best]
    return list(dict.fromkeys([best, long_ar(y, log)]))
