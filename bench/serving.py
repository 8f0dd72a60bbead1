"""Serving benchmarks: our API, `mlflow models serve` and the floor side by side on one model and
one request; the cache-off run against the model's in-process predict time; horizon growth."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import load, servers
from bench.report import Target, cache_off_target, serving_targets, table

INVOCATIONS = "/invocations"


def invocation(horizon: int) -> bytes:
    return json.dumps({"dataframe_split": {"columns": ["n_periods"], "data": [[horizon]]}}).encode()


@dataclass(frozen=True)
class Setup:
    tracking_uri: str
    model: str
    logs: Path
    seconds: float  # per load run
    repeats: int  # runs per point; the median run is reported
    concurrency: tuple[int, ...] = (1, 32)


def measure(server: servers.Server, body: bytes, setup: Setup, concurrency: int) -> load.LoadResult:
    """Warm the connections briefly, then the median of `setup.repeats` runs."""
    request = server.request(INVOCATIONS, body)
    load.run(request, concurrency, 1.0)
    return load.median_result(
        [load.run(request, concurrency, setup.seconds) for _ in range(setup.repeats)]
    )


def _row(server: servers.Server, body: bytes, setup: Setup) -> dict[str, Any]:
    row: dict[str, Any] = {"cold_start_s": server.cold_start_s}
    for c in setup.concurrency:
        row[f"c{c}"] = measure(server, body, setup, c).to_dict()
    row["rss_mb"] = server.rss_mb()  # after load: what it holds while serving
    return row


def side_by_side(setup: Setup, horizon: int = 30) -> dict[str, Any]:
    """The three servers, one at a time on the same two cores, then the target ratios."""
    body = invocation(horizon)
    rows: dict[str, Any] = {}
    with servers.cold(
        partial(servers.start_api, setup.logs, setup.tracking_uri, setup.model), INVOCATIONS, body
    ) as api:
        answer = servers.post(f"http://127.0.0.1:{api.port}{INVOCATIONS}", body)[1]
        rows["api"] = _row(api, body, setup)
    launch = partial(servers.start_mlflow_serve, setup.logs, setup.tracking_uri, setup.model)
    with servers.cold(launch, INVOCATIONS, body) as mlflow:
        same = servers.post(f"http://127.0.0.1:{mlflow.port}{INVOCATIONS}", body)[1]
        rows["mlflow"] = _row(mlflow, body, setup)
    floor_body = setup.logs / "floor-body.json"
    floor_body.write_bytes(answer)
    with servers.cold(
        partial(servers.start_floor, setup.logs, floor_body), INVOCATIONS, body
    ) as floor:
        rows["floor"] = _row(floor, body, setup)
    targets = serving_targets(rows)
    return {
        "horizon": horizon,
        "same_answer": json.loads(answer) == json.loads(same),
        "servers": rows,
        "targets": [t.to_dict() for t in targets],
        "_targets": targets,
    }


def side_by_side_table(result: dict[str, Any]) -> str:
    names = {
        "api": "our API (mlstack serve)",
        "mlflow": "mlflow models serve",
        "floor": "floor (constant body)",
    }
    rows = []
    for key, row in result["servers"].items():
        for c in (k for k in row if k.startswith("c") and k[1:].isdigit()):
            r = row[c]
            rows.append(
                [
                    names[key],
                    int(c[1:]),
                    r["rps"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["errors"],
                    row["rss_mb"],
                    row["cold_start_s"],
                ]
            )
    headers = ["server", "conc", "req/s", "p50 ms", "p99 ms", "errors", "RSS MB", "cold start s"]
    same = result["same_answer"]
    title = f"POST /invocations n_periods={result['horizon']} (same answer from both: {same})"
    return table(headers, rows, title)


def targets_table(targets: list[Target], title: str) -> str:
    return table(["target", "measured", "bound", "met"], [t.row() for t in targets], title)


def inprocess_predict_ms(
    tracking_uri: str, model: str, horizon: int, calls: int = 300
) -> dict[str, float]:
    """Median in-process time of the pyfunc's `predict` for one request row (MLflow's wrapper,
    schema enforcement included), and of the python model's own `predict` under it."""
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{model}@prod")
    frame = pd.DataFrame({"n_periods": [horizon]})
    inner = loaded.unwrap_python_model()

    def median_ms(call: Any) -> float:
        call()  # first-call costs out of the measurement
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return round(statistics.median(times) * 1000, 3)

    return {
        "pyfunc_predict_ms": median_ms(lambda: loaded.predict(frame)),
        "python_model_predict_ms": median_ms(lambda: inner.predict(None, frame)),
    }


def cache_off(setup: Setup, horizon: int = 30) -> dict[str, Any]:
    """Every request computes its forecast: how close the API gets to the model's own time."""
    body = invocation(horizon)
    predict = inprocess_predict_ms(setup.tracking_uri, setup.model, horizon)
    launch = partial(
        servers.start_api, setup.logs, setup.tracking_uri, setup.model, FORECAST_CACHE_SIZE="0"
    )
    with servers.cold(launch, INVOCATIONS, body) as api:
        runs = {f"c{c}": measure(api, body, setup, c).to_dict() for c in setup.concurrency}
    target = cache_off_target(runs["c1"]["p50_ms"], predict["pyfunc_predict_ms"])
    return {"horizon": horizon, **predict, **runs, "target": target.to_dict(), "_target": target}


def cache_off_table(result: dict[str, Any]) -> str:
    rows = [
        ["model.predict in process (pyfunc)", None, None, result["pyfunc_predict_ms"], None, None],
        [
            "python model predict (no MLflow wrapper)",
            None,
            None,
            result["python_model_predict_ms"],
            None,
            None,
        ],
    ]
    for c in (k for k in result if k.startswith("c") and k[1:].isdigit()):
        r = result[c]
        rows.append(["API, cache off", int(c[1:]), r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]])
    return table(
        ["what", "conc", "req/s", "p50 ms", "p99 ms", "errors"],
        rows,
        f"Cache off, n_periods={result['horizon']}",
    )


def horizons(setup: Setup, values: tuple[int, ...] = (1, 30, 365)) -> list[dict[str, Any]]:
    """Per horizon, p50 at the lowest and throughput at the highest concurrency; cache on, off."""
    rows = []
    for cache in ("512", "0"):
        launch = partial(
            servers.start_api,
            setup.logs,
            setup.tracking_uri,
            setup.model,
            FORECAST_CACHE_SIZE=cache,
        )
        with servers.cold(launch, INVOCATIONS, invocation(1)) as api:
            for h in values:
                body = invocation(h)
                row: dict[str, Any] = {
                    "cache": cache != "0",
                    "horizon": h,
                    "bytes": len(
                        servers.post(f"http://127.0.0.1:{api.port}{INVOCATIONS}", body)[1]
                    ),
                }
                for c in setup.concurrency:
                    row[f"c{c}"] = measure(api, body, setup, c).to_dict()
                rows.append(row)
    return rows


def horizons_table(rows: list[dict[str, Any]]) -> str:
    lo, hi = (f"c{c}" for c in (min(_conc(rows)), max(_conc(rows))))
    out = [
        [
            ("on" if r["cache"] else "off"),
            r["horizon"],
            r["bytes"],
            r[lo]["p50_ms"],
            r[hi]["rps"],
            r[hi]["p99_ms"],
            r[lo]["errors"] + r[hi]["errors"],
        ]
        for r in rows
    ]
    headers = [
        "cache",
        "horizon",
        "body bytes",
        f"{lo} p50 ms",
        f"{hi} req/s",
        f"{hi} p99 ms",
        "errors",
    ]
    return table(headers, out, "Horizon growth (POST /invocations)")


def _conc(rows: list[dict[str, Any]]) -> list[int]:
    return [int(k[1:]) for k in rows[0] if k.startswith("c") and k[1:].isdigit()]
