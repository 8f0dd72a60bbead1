"""M3 trained as panels through the real many-series trainer (issues 19 and 20): the sampled
series' training parts written as one `unique_id,ds,y` CSV per frequency (the trainer refuses
mixed ones; the test parts stay withheld), each trained by `services.trainer.run.train` against
the bench's MLflow server with 1 and 2 workers (and every series with all cores, when asked).
Wall time, series/s per core beside the m3 section's references, what the run costs beyond
fitting (reading, MLflow logging, registration), and the logged models' forecasts scored on the
official holdouts beside the m3 section's (`bench.m3`, `ours`: the same panels fitted in-process)
on the same series.

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
from bench.paneltables import panel_training_table, targets
from bench.report import ratio, table, write_json
from bench.training import train_airline

SAMPLE = 10  # make bench's every-N-th series, as the m3 section's
# M3 gives no dates: each series ends on the m3 section's date, on its kind's calendar (m3's).
ALIASES = m3.FREQUENCIES
REFERENCES = {
    "ours (m3 section)": "ours",
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
                    "ds": pd.date_range(end=m3.LAST_DS, periods=len(s.x), freq=alias).strftime(
                        "%Y-%m-%d"
                    ),
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
        "warm", np.arange(1.0, 13.0), Frequency("YS", 1), pd.Timestamp(m3.LAST_DS), 2, ("theta",)
    )
    started = time.perf_counter()
    list(parallel.run_pool(fit_batch, [[task]], 1))  # a pool, though one series runs inline
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
                    "m3_section": by_kind(same, kinds) if len(same) == len(scores) else None,
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
        train_airline(uri)  # as make bench does first: no timed run pays MLflow's first-use cost
        result = run(uri, args.every, m3_result)
    finally:
        process.stop(tracking)
    write_json(args.out, {k: v for k, v in result.items() if not k.startswith("_")})
    print(panel_training_table(result))
    print(table(["target", "measured", "bound", "met"], [t.row() for t in result["_targets"]]))


if __name__ == "__main__":
    main()
