"""Builders shared by the test areas."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tests.conftest import AIRLINE

if TYPE_CHECKING:
    from services.trainer.summary import TrainSummary

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    what: str = "condition",
    timeout: float = 60.0,
    *,
    done: Callable[[T], object] = bool,
    every: float = 0.05,
) -> T:
    """Call `probe` until `done` accepts its value (by default: until it is truthy) and return
    that value; after `timeout` seconds fail, naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            last = repr(value)[:300]
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last}")
        time.sleep(every)


def train_version(
    tracking_uri: str, model_name: str, experiment: str, data: Path = AIRLINE, promote: bool = True
) -> TrainSummary:
    """Train with the project's trainer and its fastest family; `promote` lets it move @prod."""
    from services.trainer.config import TrainConfig
    from services.trainer.run import train

    return train(
        TrainConfig(
            data_uri=str(data),
            mlflow_tracking_uri=tracking_uri,
            model_name=model_name,
            experiment_name=experiment,
            promote=promote,
            families=("seasonal_naive",),
        )
    )


@dataclass(frozen=True)
class PanelVersion:
    version: str
    ids: list[str]  # sorted
    data: Path  # the long unique_id,ds,y CSV it was trained on


def train_panel_version(
    tracking_uri: str, model_name: str, experiment: str, count: int, folder: Path
) -> PanelVersion:
    """A model of `count` monthly M3 series, trained by `mlstack train` (its fastest family, one
    worker process) on a CSV written to `folder`; `@prod` is moved to it here. A real process:
    the trainer's process pool re-imports `__main__`, which Streamlit's AppTest replaces."""
    import json
    import os
    import subprocess
    import sys

    import mlflow
    import pandas as pd

    from tests.panels import m3_monthly, write

    frame = m3_monthly(count)
    data = write(frame, folder / f"{model_name}.csv")
    mlstack = os.path.join(os.path.dirname(sys.executable), "mlstack")
    args = ["--data", str(data), "--model-name", model_name, "--families", "seasonal_naive"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "EXPERIMENT_NAME": experiment}
    result = subprocess.run(
        [mlstack, "train", *args, "--workers", "1", "--no-promote"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    version = json.loads(result.stdout.strip().splitlines()[-1])["version"]
    mlflow.MlflowClient(tracking_uri).set_registered_model_alias(model_name, "prod", version)
    return PanelVersion(version, sorted(pd.unique(frame["unique_id"])), data)


def train_first_version(tracking_uri: str, model_name: str, experiment: str) -> str:
    """The first version of a new model, which takes @prod."""
    summary = train_version(tracking_uri, model_name, experiment)
    assert summary.promoted, f"the first version should be promoted: {summary.reason}"
    return summary.version


@dataclass(frozen=True)
class Scoring:
    """The tags `mlstack score` writes on a model version (its contract), with test values."""

    realised_smape: float = 11.0
    realised_mase: float = 0.9
    realised_coverage: float = 0.93
    realised_points: int = 120
    realised_series: int = 1
    backtest_smape: float = 10.0
    interval_level: float = 0.95
    # Its challengers' standing in brief (`evidence.SUMMARY`).
    challengers_better: int = 1
    challengers_kept_out: int = 1
    best_challenger_smape: float = 9.5
    best_challenger_champion_smape: float = 11.5
    scored_at: int | None = None  # Unix seconds; now when None

    def tags(self) -> dict[str, str]:
        at = int(time.time()) if self.scored_at is None else self.scored_at
        values = {**dataclasses.asdict(self), "scored_at": at}
        return {key: str(value) for key, value in values.items()}


def score_version(tracking_uri: str, name: str, version: str, scoring: Scoring) -> dict[str, str]:
    """Tag `version` as `mlstack score` would after scoring it; returns the tags written.
    `scored_at` goes last: the API exports a version's accuracy once it has one."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    tags = scoring.tags()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return tags
