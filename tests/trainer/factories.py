"""Builders the trainer's fault tests share: their settings, and the runs a call made."""

from __future__ import annotations

from typing import Any

from mlflow.tracking import MlflowClient

from services.trainer.config import TrainConfig


def config(uri: str, name: str, **overrides: Any) -> TrainConfig:
    return TrainConfig(
        mlflow_tracking_uri=uri,
        model_name=name,
        experiment_name="faults",
        **{"families": ("seasonal_naive",), **overrides},
    )


def run_ids(uri: str) -> set[str]:
    """Every run of the tests' experiment so far."""
    experiment = MlflowClient(uri).get_experiment_by_name("faults")
    if experiment is None:
        return set()
    runs = MlflowClient(uri).search_runs([experiment.experiment_id], max_results=10_000)
    return {run.info.run_id for run in runs}


def new_run_status(uri: str, before: set[str]) -> str:
    """The status of the one run made since `before` (so a call that made none fails)."""
    (made,) = run_ids(uri) - before
    return MlflowClient(uri).get_run(made).info.status
