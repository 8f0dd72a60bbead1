"""How the default model was chosen (`python -m bench.combinations [OUT] [--every N]`): nine
combinations of the candidate models, each scored on the last horizon of every N-th M3 training
series (the official test periods are never looked at), by season length. The best per season
length is `models.default_spec`'s rule; `bench.m3` then scores that rule on the test periods.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from bench.m3 import arguments, one_blas_thread, series
from bench.report import table, write_json
from services.forecasting.specs import ARIMA_MAX_SEASON, COMBINATIONS

FIVE = ("ets", "ces", "theta", "standard_theta", "arima")
CANDIDATES = {  # name: (members, how)
    "mean(ets, ces, dotm)": (("ets", "ces", "theta"), "mean"),
    "median(ets, ces, dotm)": (("ets", "ces", "theta"), "median"),
    "mean(ets, ces, dotm, arima)": (("ets", "ces", "theta", "arima"), "mean"),
    "SCUM: median(ets, ces, dotm, arima)": (("ets", "ces", "theta", "arima"), "median"),
    "mean(ets, ces, dotm, theta)": (("ets", "ces", "theta", "standard_theta"), "mean"),
    "median(ets, ces, dotm, theta)": (("ets", "ces", "theta", "standard_theta"), "median"),
    "mean(ets, dotm, arima)": (("ets", "theta", "arima"), "mean"),
    "mean(all five)": (FIVE, "mean"),
    "median(all five)": (FIVE, "median"),
}


def one(s: Any) -> dict[str, Any]:
    """Each candidate combination's sMAPE and MASE on the last `h` points of the training data."""
    from services.forecasting import metrics
    from services.forecasting.models import FitFailed, fit
    from services.forecasting.specs import Spec

    warnings.simplefilter("ignore")
    y, m, h = np.asarray(s.x, dtype=float), s.period, s.h
    train, valid = y[:-h], y[-h:]
    forecasts = {}
    for family in FIVE if m <= ARIMA_MAX_SEASON else FIVE[:-1]:
        with contextlib.suppress(FitFailed):  # left out, as the trainer leaves it out
            forecasts[family] = fit(Spec(family), train, m, steps=h).forecast(h).mean
    row: dict[str, Any] = {"series": s.sn, "m": m}
    for name, (members, how) in CANDIDATES.items():
        parts = [forecasts[f] for f in members if f in forecasts]
        if parts and ("arima" not in members or m <= ARIMA_MAX_SEASON):
            fc = COMBINATIONS[how](parts, axis=0)
            row[name] = [metrics.smape(valid, fc), metrics.mase(valid, fc, train, m)]
    return row


def run(every: int = 1, workers: int | None = None) -> dict[str, dict[str, list[float]]]:
    """Mean validation sMAPE and MASE of each candidate, by season length."""
    with ProcessPoolExecutor(workers or os.cpu_count(), initializer=one_blas_thread) as pool:
        rows = list(pool.map(one, series(every), chunksize=4))
    out: dict[str, dict[str, list[float]]] = {}
    for m in sorted({r["m"] for r in rows}):
        mine = [r for r in rows if r["m"] == m]
        scores = {k: [r[k] for r in mine if k in r] for k in CANDIDATES}
        out[f"season length {m} ({len(mine)} series)"] = {
            k: np.mean(v, axis=0).tolist() for k, v in scores.items() if v
        }
    return out


def render(result: dict[str, dict[str, list[float]]]) -> str:
    return "\n\n".join(
        table(
            ["combination", "sMAPE", "MASE"],
            sorted(([k, *v] for k, v in scored.items()), key=lambda row: row[1]),
            title,
        )
        for title, scored in result.items()
    )


if __name__ == "__main__":
    args = arguments("python -m bench.combinations", __doc__, every=1)
    result = run(args.every, args.workers)
    if args.out:
        write_json(args.out, result)
    print(render(result))
