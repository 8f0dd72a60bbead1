"""Runs the lead's accuracy bench (`python -m bench.accuracy OUT`) and turns its rows into a table
and the issue's quality targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.report import Target, ratio, table

# One thread of BLAS each: the accuracy bench runs beside the trainer growth runs, a core each.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start(out: Path) -> subprocess.Popen[bytes]:
    """Start `python -m bench.accuracy OUT` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench.accuracy", str(out)],
        env={**os.environ, **SINGLE_THREADED},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish(proc: subprocess.Popen[bytes], out: Path, timeout: float = 1200) -> list[dict[str, Any]]:
    """Wait for the accuracy bench and read its rows."""
    if proc.wait(timeout=timeout) != 0:
        raise RuntimeError(f"python -m bench.accuracy exited with code {proc.returncode}")
    rows: list[dict[str, Any]] = json.loads(out.read_text())
    return rows


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    n = len(rows)
    mean = {k: sum(r[f"{k}_smape"] for r in rows) / n for k in ("ours", "pmdarima")}
    seconds = {k: sum(r[f"{k}_seconds"] for r in rows) for k in ("ours", "pmdarima")}
    no_worse = sum(1 for r in rows if r["ours_smape"] <= r["naive_smape"]) / n
    return [
        Target("mean SMAPE: ours / pmdarima", ratio(mean["ours"], mean["pmdarima"]), 0.9, False),
        Target("share of series no worse than seasonal naive", no_worse, 0.9, True),
        Target(
            "total fit time: ours / pmdarima",
            ratio(seconds["ours"], seconds["pmdarima"]),
            0.5,
            False,
        ),
    ]


def quality_table(rows: list[dict[str, Any]]) -> str:
    out = [
        [r["series"], r["n"], r["m"], r["h"], r["ours_smape"], r["pmdarima_smape"],
         r["naive_smape"], r["ours_seconds"], r["pmdarima_seconds"]]
        for r in rows
    ]  # fmt: skip
    n = len(rows)
    out.append([
        "mean / total", None, None, None,
        *(round(sum(r[f"{k}_smape"] for r in rows) / n, 3) for k in ("ours", "pmdarima", "naive")),
        *(round(sum(r[f"{k}_seconds"] for r in rows), 1) for k in ("ours", "pmdarima")),
    ])  # fmt: skip
    headers = [
        "series",
        "n",
        "m",
        "h",
        "ours SMAPE",
        "pmdarima SMAPE",
        "naive SMAPE",
        "ours s",
        "pmdarima s",
    ]
    return table(headers, out, "Accuracy on the development set (chronological 80/20, SMAPE)")
