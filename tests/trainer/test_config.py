"""The trainer's settings are the deploy contract's `TrainEnv`: what a Job or the local stack
writes is what `mlstack train` reads back, field for field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contract.trainer import TrainEnv
from services.trainer.config import TrainConfig

# A value other than the default for every field.
WRITTEN = {
    "mlflow_tracking_uri": "http://mlflow:5000",
    "data_uri": "s3://bucket/data.csv",
    "model_name": "Air",
    "experiment_name": "exp",
    "model_alias": "staging",
    "horizon": 7,
    "promote": False,
    "families": ("ets", "theta"),
    "id_column": "sku",
    "series_id": "one",
    "ds_column": "date",
    "y_column": "sales",
    "freq": "MS",
    "season_length": 4,
    "max_train_points": 60,
    "global_path": 30,
    "train_workers": 3,
    "dask_scheduler_address": "tcp://dask:8786",
    "max_regressed": 0.2,
    "regression_tolerance": 0.3,
    "score_min_points": 2,
    "promotion": "realised",
    "min_realised_points": 30,
    "promotion_significance": 0.01,
    "promote_if_degraded": True,
    "replace_served": True,
    "degradation_ratio": 2.5,
    "data_timeout_seconds": 5.0,
    "mlflow_timeout_seconds": 9.0,
    "mlflow_http_request_timeout": 11,
    "mlflow_http_request_max_retries": 1,
    "mlflow_recovery_seconds": 12.0,
}


def test_every_field_written_as_a_variable_is_read_back_by_the_trainer(monkeypatch):
    assert set(WRITTEN) == set(TrainEnv.model_fields) and issubclass(TrainConfig, TrainEnv)
    for name, value in TrainEnv(**WRITTEN).to_env().items():
        monkeypatch.setenv(name, value)
    read = TrainConfig()
    assert {name: getattr(read, name) for name in WRITTEN} == WRITTEN


def test_the_trainer_adds_the_checks_that_need_the_application():
    assert TrainEnv(families=("prophet",)).families == ("prophet",)  # the contract cannot know
    with pytest.raises(ValidationError, match="unknown or no model families"):
        TrainConfig(families=("prophet",))
