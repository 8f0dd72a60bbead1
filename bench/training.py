"""The bench's model (the bundled airline series, trained first by every bench run), and the
trainer's cost growth: wall time and peak memory of `train()` on synthetic series of growing
length (synthetic only to scale the length; quality is the accuracy bench's job).

Each size runs in its own process (`python -m bench.training N URI MODEL`), so its peak RSS is
its own and no import or cache from an earlier size is shared.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.quality import SINGLE_THREADED
from bench.report import table

SIZES = (100, 1_000, 10_000, 100_000)
MODEL = "bench-airline"


def train_airline(tracking_uri: str) -> dict[str, Any]:
    """`MODEL` trained on the bundled airline series: its first version is what the serving
    sections serve."""
    import logging

    from services.trainer.config import TrainConfig
    from services.trainer.run import train

    logging.getLogger("mlstack.train").setLevel(logging.WARNING)
    started = time.perf_counter()
    summary = train(TrainConfig(mlflow_tracking_uri=tracking_uri, model_name=MODEL))
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "version": summary.version,
        "model": summary.model,
        "smape": summary.smape,
    }


def synthetic_csv(n: int, path: Path, seed: int = 0) -> Path:
    """Daily points with a weekly season, a trend and noise (positive, so every family applies)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 100 + 0.01 * t + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, n)
    pd.DataFrame({"ds": pd.date_range("1800-01-01", periods=n, freq="D"), "y": y}).to_csv(
        path, index=False
    )
    return path


def train_once(n: int, tracking_uri: str, model: str) -> dict[str, Any]:
    """One training run in this process; returns its wall time and this process's peak RSS."""
    import logging

    from services.trainer.config import TrainConfig
    from services.trainer.run import train

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_csv(n, Path(tmp) / f"series-{n}.csv")
        started = time.perf_counter()
        summary = train(
            TrainConfig(data_uri=str(data), mlflow_tracking_uri=tracking_uri, model_name=model)
        )
        seconds = time.perf_counter() - started
    fitted = min(n, TrainConfig().max_train_points)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n": n,
        "fit_points": fitted,
        "seconds": round(seconds, 2),
        "peak_mb": round(peak_mb, 1),
        "model": summary.model,
    }


def run(
    tracking_uri: str, sizes: tuple[int, ...] = SIZES, timeout: float = 600
) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        argv = [sys.executable, "-m", "bench.training", str(n), tracking_uri, f"bench-scale-{n}"]
        env = {**os.environ, **SINGLE_THREADED}
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
        if done.returncode != 0:
            rows.append({"n": n, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def growth(rows: list[dict[str, Any]]) -> list[float | None]:
    """Per row, time growth over the previous size over length growth (≤ 1: at most linear)."""
    out: list[float | None] = [None]
    for prev, cur in itertools.pairwise(rows):
        if "seconds" not in prev or "seconds" not in cur or not prev["seconds"]:
            out.append(None)
            continue
        out.append(round((cur["seconds"] / prev["seconds"]) / (cur["n"] / prev["n"]), 3))
    return out


def training_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for row, g in zip(rows, growth(rows), strict=True):
        if "error" in row:
            out.append([row["n"], None, None, None, None, f"failed: {row['error']}"])
        else:
            out.append(
                [row["n"], row["fit_points"], row["seconds"], g, row["peak_mb"], row["model"]]
            )
    headers = ["points", "fit on", "wall s", "time growth / length growth", "peak RSS MB", "chosen"]
    return table(headers, out, "Trainer cost growth (synthetic daily series, weekly season)")


if __name__ == "__main__":
    print(json.dumps(train_once(int(sys.argv[1]), sys.argv[2], sys.argv[3])))
