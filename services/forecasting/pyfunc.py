"""The MLflow pyfunc around the forecasters of one or many series, and how the trainer logs it.

The artifact is JSON (one file for one series, JSON lines for many; `forecasters.py`), not a
pickle, and the model's metadata names its format, so the API can load it without MLflow
(`services/serving/loader.py`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

from services.forecasting import forecasters
from services.forecasting.forecaster import (
    ARTIFACT,
    DEFAULT_LEVEL,
    FORMAT,
    FORMAT_KEY,
    OUTPUT_COLUMNS,
    SERIES_ID,
    Forecaster,
    InvalidInput,
)
from services.forecasting.forecasters import ID, Forecasters

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec("string", ID, required=False),
            ColSpec("long", "n_periods"),
            ColSpec("double", "level", required=False),
        ]
    ),
    outputs=Schema(
        [
            ColSpec("string", ID, required=False),  # when the input has it
            ColSpec("string", "ds"),
            *(ColSpec("double", c) for c in OUTPUT_COLUMNS[1:]),
        ]
    ),
)
INPUT_EXAMPLE = pd.DataFrame({"n_periods": [12], "level": [DEFAULT_LEVEL]})


class ForecastModel(PythonModel):
    """One forecast per input row, concatenated in input order (`Forecasters.predict`)."""

    model: Forecasters

    # No type hints on the MLflow hooks: MLflow would try to derive a schema from them.
    def load_context(self, context):  # type: ignore[no-untyped-def]
        artifacts = context.artifacts
        if forecasters.ARTIFACT in artifacts:
            by_id = forecasters.read(Path(artifacts[forecasters.ARTIFACT]))
        else:
            by_id = forecasters.read_single(Path(artifacts[ARTIFACT]))
        self.model = Forecasters(by_id)

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        try:
            return self.model.predict(model_input)
        except InvalidInput as exc:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


def log_forecaster(
    forecaster: Forecaster, registered_model_name: str, series_id: str = SERIES_ID
) -> Any:
    """Log a model of one series as the active run's model and register it; MLflow's
    `ModelInfo`. The caller has set up MLflow's client
    (`services.trainer.run.configure_mlflow`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{ARTIFACT}.json"
        path.write_text(json.dumps({**forecaster.to_dict(), ID: series_id}))
        return _log({ARTIFACT: path}, FORMAT, INPUT_EXAMPLE, registered_model_name)


def log_forecasters(lines: Mapping[str, str], name: str) -> Any:
    """Log a model of many series (each series' `forecasters.line`, by id) and register it;
    the caller has set up MLflow's client, as for `log_forecaster`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{forecasters.ARTIFACT}.jsonl"
        forecasters.write(path, lines)
        example = INPUT_EXAMPLE.assign(**{ID: min(lines)})[[ID, *INPUT_EXAMPLE.columns]]
        return _log({forecasters.ARTIFACT: path}, forecasters.FORMAT, example, name)


def _log(artifacts: dict[str, Path], fmt: str, example: pd.DataFrame, name: str) -> Any:
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=ForecastModel(),
        artifacts={key: str(path) for key, path in artifacts.items()},
        signature=SIGNATURE,
        input_example=example,
        pip_requirements=_requirements(),
        metadata={FORMAT_KEY: fmt},
        registered_model_name=name,
    )


def _requirements() -> list[str]:
    packages = ("mlflow-skinny", "pandas", "numpy", "mlflow-serving-stack")
    return [f"{name}=={installed(name)}" for name in packages]
