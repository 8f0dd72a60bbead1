"""`python -m bench [--out bench-results] [--seconds 5] [--repeats 1] [--skip ...]`: the whole
benchmark, printed as tables and written to `OUT/results.json` after every section.

A real MLflow server on SQLite, the project's trainer on the bundled airline data, then: our API,
`mlflow models serve` and the floor side by side; the cache-off run; horizon growth; a model of
10,000 series (its load time and RSS, one series and 100 per request); hot swap under load;
trainer cost growth; the accuracy bench; M3 against statsforecast's references; M3 trained
as panels through the trainer with 1 and 2 workers, beside those references; promotion on
evidence replayed on M3 panels whose holdouts arrive in steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import (
    hotswap,
    images,
    m3,
    manyseries,
    paneltraining,
    quality,
    replay,
    servers,
    serving,
    training,
)
from bench.load import have_wrk
from bench.report import Target
from bench.training import MODEL, train_airline
from services.local import process

SECTIONS = (
    "serving",
    "cache_off",
    "horizons",
    "many_series",
    "hotswap",
    "training",
    "accuracy",
    "m3",
    "panel_training",
    "images",
    "replay",
)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_generator": "wrk" if have_wrk() else "python",
    }


class Results:
    """Sections as they finish, written to disk each time so an interrupted run keeps them."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "results.json"
        self.data: dict[str, Any] = {
            "machine": machine(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.targets: list[Target] = []

    def section(self, name: str, run: Callable[[], Any], render: Callable[[Any], str]) -> Any:
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        result = run()
        took = round(time.perf_counter() - started, 1)
        self.data[name] = _public(result)
        self.data.setdefault("seconds", {})[name] = took
        self.data.setdefault("load_average", {})[name] = [
            round(load_before, 2),
            round(os.getloadavg()[0], 2),
        ]
        load_after = os.getloadavg()[0]
        note = f"({name}: {took} s, load average {load_before:.1f} -> {load_after:.1f})"
        print(f"\n{render(result)}\n{note}", flush=True)
        self.save()
        return result

    def add_targets(self, targets: list[Target]) -> None:
        self.targets += targets
        self.data["targets"] = [t.to_dict() for t in self.targets]
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2, default=str))


def _public(value: Any) -> Any:
    """The JSON-able part of a section's result (keys starting with "_" hold objects)."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load run")
    parser.add_argument(
        "--repeats", type=int, default=1, help="load runs per point (median reported)"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS)
    parser.add_argument(
        "--many-series", type=int, default=10_000, help="series in the many-series model"
    )
    parser.add_argument(
        "--m3-every", type=int, default=10, help="M3: every N-th series (1: all 3,003)"
    )
    parser.add_argument(
        "--replay-trials", type=int, default=20, help="promotion replay: panels of 8 M3 series"
    )
    args = parser.parse_args(argv)
    results = Results(args.out)
    print(f"machine: {results.data['machine']}", flush=True)
    started = time.perf_counter()
    logs = (args.out / "logs").resolve()
    shutil.rmtree(logs, ignore_errors=True)  # a fresh registry: version 1 is this run's model
    uri, tracking = servers.start_tracking(logs / "mlflow")
    try:
        _sections(args, results, uri, logs)
    finally:
        process.stop(tracking)
    results.data["total_seconds"] = round(time.perf_counter() - started, 1)
    results.save()
    print(f"\n{serving.targets_table(results.targets, 'Targets')}")
    print(f"\ntotal {results.data['total_seconds']} s; results in {results.path}")


def _sections(args: argparse.Namespace, results: Results, uri: str, logs: Path) -> None:
    results.section(
        "train",
        lambda: train_airline(uri),
        lambda r: f"trained {MODEL} v{r['version']}: {r['model']} in {r['seconds']} s",
    )
    setup = serving.Setup(uri, MODEL, logs, args.seconds, args.repeats)
    if "serving" not in args.skip:
        r = results.section(
            "serving", lambda: serving.side_by_side(setup), serving.side_by_side_table
        )
        results.add_targets(r["_targets"])
    if "cache_off" not in args.skip:
        r = results.section("cache_off", lambda: serving.cache_off(setup), serving.cache_off_table)
        results.add_targets([r["_target"]])
    if "horizons" not in args.skip:
        short = serving.Setup(uri, MODEL, logs, max(2.0, args.seconds / 2), 1)
        results.section("horizons", lambda: serving.horizons(short), serving.horizons_table)
    if "many_series" not in args.skip:
        many = partial(manyseries.run, setup, args.many_series)
        r = results.section("many_series", many, manyseries.many_series_table)
        results.add_targets(r["_targets"])
    if "hotswap" not in args.skip:
        r = results.section("hotswap", lambda: hotswap.run(setup), hotswap.hotswap_table)
        results.add_targets(r["_targets"])
    # Trainer growth and accuracy are single-threaded fits: run side by side, one core each,
    # after the serving runs (which must have the machine to themselves).
    accuracy_out = args.out / "accuracy.json"
    accuracy = quality.start(accuracy_out) if "accuracy" not in args.skip else None
    try:
        if "training" not in args.skip:
            results.section("training", lambda: training.run(uri), training.training_table)
        if accuracy is not None:
            finish = partial(quality.finish, accuracy, accuracy_out)
            rows = results.section("accuracy", finish, quality.quality_table)
            results.add_targets(quality.targets(rows))
    finally:
        if accuracy is not None and accuracy.poll() is None:
            accuracy.kill()
    if "images" not in args.skip:
        results.section("images", images.sizes, images.images_table)
    if "replay" not in args.skip:
        replayed = partial(replay.run, uri, args.replay_trials)
        r = results.section("replay", replayed, replay.replay_table)
        results.add_targets(r["_targets"])
    references = None
    if "m3" not in args.skip:  # every core, so after everything else
        references = results.section("m3", lambda: m3.run(args.m3_every), m3.m3_table)
        results.add_targets(m3.targets(references))
    if "panel_training" not in args.skip:  # beside the m3 section's figures of the same run
        panels = partial(paneltraining.run, uri, args.m3_every, references)
        r = results.section("panel_training", panels, paneltraining.panel_training_table)
        results.add_targets(r["_targets"])


if __name__ == "__main__":
    main()
