"""The deploy contract: importable without the application, and each typed environment written
exactly as the service reads it back."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from contract.api import TOKEN_ENV, ApiEnv
from contract.trainer import TrainEnv
from tests.binaries import imported_by

# What importing the contract must never pull in: the application (and its BLAS settings),
# MLflow, NumPy, Pulumi.
FORBIDDEN = {"services", "mlflow", "numpy", "pulumi"}
EVERY_MODULE = """
import importlib, pkgutil, contract
for found in pkgutil.iter_modules(contract.__path__):
    importlib.import_module(f"contract.{found.name}")
"""


def test_the_contract_imports_neither_the_application_nor_mlflow_numpy_or_pulumi() -> None:
    loaded = imported_by(EVERY_MODULE)
    assert {"contract", "pydantic"} <= loaded
    assert loaded & FORBIDDEN == set()


def test_an_env_writes_only_the_fields_set_each_under_its_upper_case_name() -> None:
    env = ApiEnv(model_name="Air", rate_limit_burst=7).to_env()
    assert env == {"MODEL_NAME": "Air", "RATE_LIMIT_BURST": "7"}


def test_values_are_written_as_the_service_reads_them() -> None:
    token = SecretStr("s3cret-of-at-least-32-characters")
    env = ApiEnv(api_token=token, model_cache_dir=None, model_poll_seconds=0.5)
    assert env.to_env() == {
        TOKEN_ENV: "s3cret-of-at-least-32-characters",
        "MODEL_CACHE_DIR": "",  # empty turns the cache off
        "MODEL_POLL_SECONDS": "0.5",
    }


def test_or_takes_the_fields_the_right_side_sets_over_the_left() -> None:
    merged = ApiEnv(model_name="A", rate_limit_burst=3) | ApiEnv(model_name="B", host="h")
    assert merged.to_env() == {"MODEL_NAME": "B", "RATE_LIMIT_BURST": "3", "HOST": "h"}
    assert (ApiEnv() | ApiEnv()).to_env() == {}


def test_the_token_variable_is_the_token_fields_name() -> None:
    assert TOKEN_ENV == "API_TOKEN"
    with pytest.raises(KeyError, match="ApiEnv has no field 'token'"):
        ApiEnv.env_name("token")


def test_bad_values_are_refused_where_the_env_is_built() -> None:
    with pytest.raises(ValidationError, match="rate_limit_trusted_proxies"):
        ApiEnv(rate_limit_trusted_proxies="10.0.0.0/8,not a network")
    with pytest.raises(ValidationError, match="rate_limit_per_minute"):
        ApiEnv(rate_limit_per_minute=-1)
    with pytest.raises(ValidationError, match="extra"):
        ApiEnv.model_validate({"rate_limit": 5})


def test_values_known_only_at_deploy_time_take_their_fields_place_unchecked() -> None:
    output = object()  # a Pulumi output: neither a str nor checked
    env = TrainEnv(model_name="Air", experiment_name="e")
    rendered = env.with_inputs({"data_uri": output, "mlflow_tracking_uri": "http://mlflow:5000"})
    assert rendered == {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "DATA_URI": output,
        "MODEL_NAME": "Air",
        "EXPERIMENT_NAME": "e",
    }
    assert list(rendered) == ["MLFLOW_TRACKING_URI", "DATA_URI", "MODEL_NAME", "EXPERIMENT_NAME"]
    assert env.with_inputs({"dask_scheduler_address": None}) == env.to_env()  # None: left out
    with pytest.raises(KeyError, match="TrainEnv has no field 'data'"):
        env.with_inputs({"data": output})


def test_the_trainers_env_is_typed_and_checked_where_it_is_built() -> None:
    assert TrainEnv(families="ets, theta").to_env() == {"FAMILIES": "ets,theta"}
    with pytest.raises(ValidationError, match="model_name"):
        TrainEnv(model_name="")
    with pytest.raises(ValidationError, match="extra"):
        TrainEnv.model_validate({"experiment": "e"})
