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
from contract.api import ApiEnv

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


def measure(
    server: servers.Server, body: bytes, setup: Setup, concurrency: int, path: str = INVOCATIONS
) -> load.LoadResult:
    """Warm the connections briefly, then the median of `setup.repeats` runs."""
    request = server.request(path, body)
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


class InProcess:
    """The registered model loaded in this process, to time its own `predict` for one row."""

    def __init__(self, tracking_uri: str, model: str, horizon: int) -> None:
        import mlflow
        import pandas as pd

        self.tracking_uri, self.model = tracking_uri, model
        mlflow.set_tracking_uri(tracking_uri)
        self.loaded = mlflow.pyfunc.load_model(f"models:/{model}@prod")
        self.frame = pd.DataFrame({"n_periods": [horizon]})
        self.loaded.predict(self.frame)  # first-call costs out of the measurement

    def pyfunc_ms(self, calls: int = 150) -> float:
        """Median time of the pyfunc's `predict` (MLflow's schema enforcement included)."""
        return _median_ms(lambda: self.loaded.predict(self.frame), calls)

    def python_model_ms(self, calls: int = 150) -> float:
        """Median time of the python model's own `predict`, without MLflow's wrapper."""
        inner = self.loaded.unwrap_python_model()
        return _median_ms(lambda: inner.predict(None, self.frame), calls)

    def api_compute_ms(self, calls: int = 150) -> float:
        """Median time of what the API runs on a cache miss, loaded as the API loads it: the
        same forecast without DataFrames in or out, serialised."""
        from services.serving.loader import MlflowLoader

        loader = MlflowLoader(self.tracking_uri)
        ref = loader.resolve(self.model, "prod")
        assert ref is not None
        loaded = loader.load(ref)
        horizon = int(self.frame["n_periods"].iloc[0])
        return _median_ms(lambda: loaded.forecast(None, horizon, None), calls)


def _median_ms(call: Any, calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def cache_off(setup: Setup, horizon: int = 30, rounds: int = 3) -> dict[str, Any]:
    """Every request computes its forecast: how close the API gets to the model's own time.
    On a shared machine the model's time drifts, so in-process timings and concurrency-1 runs
    alternate, and the target uses the median of the per-round differences."""
    body = invocation(horizon)
    model = InProcess(setup.tracking_uri, setup.model, horizon)
    launch = partial(
        servers.start_api,
        setup.logs,
        setup.tracking_uri,
        setup.model,
        ApiEnv(forecast_cache_bytes=0),
    )
    with servers.cold(launch, INVOCATIONS, body) as api:
        request = api.request(INVOCATIONS, body)
        load.run(request, 1, 1.0)
        paired = [(model.pyfunc_ms(), load.run(request, 1, setup.seconds)) for _ in range(rounds)]
        runs = {f"c{c}": measure(api, body, setup, c).to_dict() for c in setup.concurrency if c > 1}
    runs["c1"] = load.median_result([r for _, r in paired]).to_dict()
    over = statistics.median(r.p50_ms - ms for ms, r in paired)
    target = cache_off_target(over, 0.0)
    return {
        "horizon": horizon,
        "pyfunc_predict_ms": statistics.median(ms for ms, _ in paired),
        "python_model_predict_ms": model.python_model_ms(),
        "api_compute_ms": model.api_compute_ms(),
        "rounds": [{"pyfunc_predict_ms": ms, "api_c1_p50_ms": r.p50_ms} for ms, r in paired],
        "api_over_predict_ms": round(over, 3),
        **dict(sorted(runs.items(), key=lambda kv: int(kv[0][1:]))),
        "target": target.to_dict(),
        "_target": target,
    }


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
        ["the API's own computation in process", None, None, result["api_compute_ms"], None, None],
    ]
    for c in (k for k in result if k.startswith("c") and k[1:].isdigit()):
        r = result[c]
        rows.append(["API, cache off", int(c[1:]), r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]])
    return table(
        ["what", "conc", "req/s", "p50 ms", "p99 ms", "errors"],
        rows,
        f"Cache off, n_periods={result['horizon']}: API c1 p50 is "
        f"{result['api_over_predict_ms']} ms above the model's own predict (median of rounds)",
    )


def horizons(setup: Setup, values: tuple[int, ...] = (1, 30, 365)) -> list[dict[str, Any]]:
    """Per horizon, p50 at the lowest and throughput at the highest concurrency; cache on, off."""
    rows = []
    for settings in (ApiEnv(), ApiEnv(forecast_cache_bytes=0)):  # the default cache, then off
        launch = partial(servers.start_api, setup.logs, setup.tracking_uri, setup.model, settings)
        with servers.cold(launch, INVOCATIONS, invocation(1)) as api:
            for h in values:
                body = invocation(h)
                row: dict[str, Any] = {
                    "cache": settings.forecast_cache_bytes > 0,
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
