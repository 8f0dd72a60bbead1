"""M3 trained as panels through the real many-series trainer (issues 19 and 20): the sampled
series' training parts written as one `unique_id,ds,y` CSV per frequency (the trainer refuses
mixed ones; the test parts stay withheld), each trained by `services.trainer.run.train` against
the bench's MLflow server with 1 and 2 workers (and every series with all cores, when asked).
Wall time, series/s per core beside the m3 section's references, what the run costs beyond
fitting (reading, MLflow logging, registration), and the logged models' forecasts scored on the
official holdouts beside the per-series path's (`bench.m3`, `ours`) on the same series.

`python -m bench.paneltraining OUT [--every N] [--m3 M3.json]` runs it on a server of its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import m3, servers
from bench.report import Target, ratio, table, write_json

SAMPLE = 10  # make bench's every-N-th series, as the m3 section's
START = "1980-01-01"  # M3 gives no dates; any calendar of the series' frequency fits the same
# pandas frequency per M3 kind; "other" has no calendar in M3 (its period is 1): daily.
ALIASES = {"yearly": "YS", "quarterly": "QS", "monthly": "MS", "other": "D"}
REFERENCES = {
    "ours per series (m3 section)": "ours",
    "SCUM": "scum",
    "AutoETS": "ets",
    "AutoARIMA": "arima",
}


def plan(every: int, cores: int) -> list[tuple[int, tuple[int, ...]]]:
    """(every N-th series, worker counts) to run: the sample with 1, 2 and all cores, and
    `every` with all cores when it is not the sample."""
    sizes = [(SAMPLE, tuple(sorted({1, 2, cores})))]
    return sizes if every == SAMPLE else [*sizes, (every, (cores,))]


def write_panels(chosen: list[Any], folder: Path) -> dict[str, Path]:
    """The trainer's CSV per M3 kind in `chosen`: each series' training part only."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, alias in ALIASES.items():
        frames = [
            pd.DataFrame(
                {
                    "unique_id": s.sn,
                    "ds": pd.date_range(START, periods=len(s.x), freq=alias).strftime("%Y-%m-%d"),
                    "y": np.asarray(s.x, dtype=float),
                }
            )
            for s in chosen
            if s.type == kind
        ]
        if frames:
            paths[kind] = folder / f"m3-{kind}.csv"
            pd.concat(frames, ignore_index=True).to_csv(paths[kind], index=False)
    return paths


def warm_pool() -> float:
    """Start the trainer's pool server (forkserver: once a process, importing the fitting code)
    on one tiny series, so no timed run pays it; its seconds."""
    import logging

    import pandas as pd

    from services.forecasting.frequency import Frequency
    from services.trainer import parallel
    from services.trainer.fit import Task, fit_batch

    logging.getLogger("mlstack.train").setLevel(logging.WARNING)
    task = Task(
        "warm", np.arange(1.0, 13.0), Frequency("YS", 1), pd.Timestamp(START), 2, ("theta",)
    )
    started = time.perf_counter()
    parallel.run(fit_batch, [task], 1)
    return time.perf_counter() - started


def train_all(uri: str, chosen: list[Any], paths: dict[str, Path], workers: int, name: str) -> dict:
    """Every kind's panel trained with `workers`, each as a first version of its own model."""
    import logging

    from mlflow import MlflowClient

    from services.trainer.config import TrainConfig
    from services.trainer.run import train

    logging.getLogger("mlstack.train").setLevel(logging.WARNING)
    runs = []
    for kind, path in paths.items():
        first = next(s for s in chosen if s.type == kind)  # M3 has one period and h per kind
        cfg = TrainConfig(
            data_uri=str(path),
            mlflow_tracking_uri=uri,
            model_name=f"{name}-{kind}",
            experiment_name="bench-panel-training",
            train_workers=workers,
            freq=ALIASES[kind],
            season_length=first.period,
            horizon=first.h,
        )
        started = time.perf_counter()
        summary = train(cfg)
        seconds = time.perf_counter() - started
        metrics = MlflowClient(uri).get_run(summary.run_id).data.metrics
        runs.append(
            {
                "kind": kind,
                "model": cfg.model_name,
                "version": summary.version,
                "series": summary.series,
                "floor": summary.floor,
                "excluded": summary.excluded,
                "seconds": seconds,
                "fit_seconds": metrics["fit_seconds"],
            }
        )
        print(f"panel_training: {name}-{kind} in {seconds:.1f} s", file=sys.stderr, flush=True)
    return {
        "series": len(chosen),
        "workers": workers,
        **{k: sum(r[k] for r in runs) for k in ("seconds", "fit_seconds", "floor", "excluded")},
        "runs": runs,
    }


def holdout_smape(uri: str, chosen: list[Any], runs: list[dict], folder: Path) -> dict[str, Any]:
    """Each series' sMAPE on its official holdout, forecast by the logged model (None: left out
    of it)."""
    from services.forecasting import forecasters, metrics
    from services.registry import connect

    registry, scores = connect(uri, 60.0), {}
    for run in runs:
        downloaded = registry.download(run["model"], run["version"], folder / run["model"])
        model = forecasters.load(downloaded)
        for s in (s for s in chosen if s.type == run["kind"]):
            found = model.get(s.sn)
            yhat = None if found is None else found.columns(s.h)["yhat"]
            scores[s.sn] = None if yhat is None else metrics.smape(np.asarray(s.xx), yhat)
    return scores


def by_kind(scores: dict[str, float | None], kinds: dict[str, str]) -> dict[str, Any]:
    """Mean sMAPE overall and per M3 kind, and the series without a forecast."""
    got = {k: v for k, v in scores.items() if v is not None}

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    out: dict[str, Any] = {"smape": mean(list(got.values()))}
    out |= {f"smape_{t}": mean([v for k, v in got.items() if kinds[k] == t]) for t in m3.TYPES}
    return {**out, "failed": len(scores) - len(got)}


def run(
    uri: str,
    every: int = SAMPLE,
    m3_result: dict[str, Any] | None = None,
    sizes: list[tuple[int, tuple[int, ...]]] | None = None,
    name: str = "bench-m3-panel",
) -> dict[str, Any]:
    """Each size trained with each worker count; the all-cores run of each scored."""
    cores = os.cpu_count() or 1
    m3_rows = (m3_result or {}).get("_rows") or (m3_result or {}).get("rows") or []
    ours = {r["series"]: r["ours"]["smape"] for r in m3_rows}
    result: dict[str, Any] = {
        "cores": cores,
        "warm_s": warm_pool(),
        "trainings": [],
        "accuracy": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n, counts in sizes or plan(every, cores):
            chosen = m3.series(n)
            paths = write_panels(chosen, Path(tmp) / f"every-{n}")
            for w in counts:
                trained = train_all(uri, chosen, paths, w, f"{name}-{len(chosen)}-w{w}")
                result["trainings"].append({"every": n, **trained})
            scores = holdout_smape(uri, chosen, trained["runs"], Path(tmp) / f"models-{n}")
            kinds = {s.sn: s.type for s in chosen}
            same = {sn: ours[sn] for sn in scores if sn in ours}  # the m3 section's, if it ran
            result["accuracy"].append(
                {
                    "every": n,
                    "series": len(chosen),
                    "workers": counts[-1],
                    "trainer": by_kind(scores, kinds),
                    "per_series": by_kind(same, kinds) if len(same) == len(scores) else None,
                }
            )
    if m3_result:
        summary = m3_result["summary"]
        result["references"] = {
            label: ratio(1.0, summary[key]["seconds_per_series"])
            for label, key in REFERENCES.items()
        }
    result["_targets"] = targets(result)
    result["targets"] = [t.to_dict() for t in result["_targets"]]
    return result


def rates(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per training: series/s, per core, the speed-up over 1 worker on the same series, and the
    time per series over the sample's with the same workers."""
    rows, found = [], {(t["series"], t["workers"]): t for t in result["trainings"]}
    sample = min(t["series"] for t in result["trainings"])
    for t in result["trainings"]:
        one, small = found.get((t["series"], 1)), found.get((sample, t["workers"]))
        per_series = t["seconds"] / t["series"]
        rows.append(
            {
                **t,
                "series_per_s": t["series"] / t["seconds"],
                "per_core": t["series"] / t["seconds"] / min(t["workers"], result["cores"]),
                "beyond_fitting_s": t["seconds"] - t["fit_seconds"],
                "speedup": None if one is None else one["seconds"] / t["seconds"],
                "per_series_vs_sample": None
                if small is None or small is t
                else per_series / (small["seconds"] / small["series"]),
            }
        )
    return rows


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The training the targets judge: the most series, with the most workers."""
    return max(rates(result), key=lambda r: (r["series"], r["workers"]))


def targets(result: dict[str, Any]) -> list[Target]:
    """Issue 19: per core at least SCUM's throughput; issue 20: the trainer's forecasts as
    accurate as the per-series path's on the same series (equal, to rounding)."""
    out, best = [], headline(result)
    if "references" in result:
        name = f"panel training {best['series']} series, {best['workers']} workers"
        rate = ratio(best["per_core"], result["references"]["SCUM"])
        out.append(Target(f"{name}: series/s/core / SCUM's", rate, 1.0, True))
    for a in result["accuracy"]:
        if a["per_series"] is not None:
            rel = ratio(a["trainer"]["smape"], a["per_series"]["smape"])
            out.append(
                Target(f"M3 {a['series']} panel-trained sMAPE / per-series", rel, 1.001, False)
            )
    return out


def panel_training_table(result: dict[str, Any]) -> str:
    headers = [
        "series",
        "workers",
        "wall s",
        "fitting s",
        "beyond fitting s",
        "series/s",
        "series/s/core",
        "speed-up vs 1 worker",
        "s/series vs sample",
        "floor",
        "left out",
    ]
    rows = [
        [
            r["series"],
            r["workers"],
            r["seconds"],
            r["fit_seconds"],
            r["beyond_fitting_s"],
            r["series_per_s"],
            r["per_core"],
            r["speedup"],
            r["per_series_vs_sample"],
            r["floor"],
            r["excluded"],
        ]
        for r in rates(result)
    ]
    title = (
        f"M3 trained through the trainer, one panel and run per frequency ({result['cores']} "
        f"cores; the pool's server started once before, in {result['warm_s']:.1f} s)"
    )
    out = [table(headers, rows, title)]
    best = headline(result)
    if "references" in result:
        label = f"trainer, {best['series']} series, {best['workers']} workers"
        refs = {label: best["per_core"], **result["references"]}
        rows = [[k, v, ratio(best["per_core"], v)] for k, v in refs.items()]
        out.append(
            table(
                ["method", "series/s/core", "trainer / this"],
                rows,
                "Per-core throughput beside the m3 section's (its fitting time per "
                "series, one process each)",
            )
        )
    rows = []
    for a in result["accuracy"]:
        for path in ("trainer", "per_series"):
            if a[path] is not None:
                what = f"{path.replace('_', ' ')}, {a['series']} series"
                rows.append(
                    [
                        what,
                        a[path]["smape"],
                        *(a[path][f"smape_{t}"] for t in m3.TYPES),
                        a[path]["failed"],
                    ]
                )
    headers = ["path", "sMAPE", *m3.TYPES, "no forecast"]
    out.append(table(headers, rows, "sMAPE on the official M3 holdouts"))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.paneltraining", description=__doc__)
    parser.add_argument("out", type=Path, help="write the results here as JSON")
    parser.add_argument("--every", type=int, default=SAMPLE, help="also every N-th (1: all)")
    parser.add_argument("--m3", type=Path, help="bench.m3's JSON of the same run (references)")
    args = parser.parse_args()
    m3_result = None
    if args.m3 and args.m3.exists():
        import json

        m3_result = json.loads(args.m3.read_text())
    from services.local import process

    logs = args.out.with_suffix("").resolve()
    shutil.rmtree(logs, ignore_errors=True)  # a fresh registry: every model's first version
    uri, tracking = servers.start_tracking(logs / "mlflow")
    try:
        from bench.__main__ import train_airline

        train_airline(uri)  # as make bench does first: no timed run pays MLflow's first-use cost
        result = run(uri, args.every, m3_result)
    finally:
        process.stop(tracking)
    write_json(args.out, {k: v for k, v in result.items() if not k.startswith("_")})
    print(panel_training_table(result))
    print(table(["target", "measured", "bound", "met"], [t.row() for t in result["_targets"]]))


if __name__ == "__main__":
    main()
