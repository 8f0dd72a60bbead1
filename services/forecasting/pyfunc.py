"""The MLflow pyfunc around a `Forecaster`, and how the trainer logs it.

The artifact is the forecaster's JSON file, not a pickle, and the model's metadata names its
format, so the API can load that file without MLflow (`services/serving/loader.py`).
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

from services.forecasting.forecaster import (
    ARTIFACT,
    DEFAULT_LEVEL,
    FORMAT,
    FORMAT_KEY,
    OUTPUT_COLUMNS,
    Forecaster,
    InvalidInput,
)

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", "n_periods"), ColSpec("double", "level", required=False)]),
    outputs=Schema([ColSpec("string", "ds"), *(ColSpec("double", c) for c in OUTPUT_COLUMNS[1:])]),
)
INPUT_EXAMPLE = pd.DataFrame({"n_periods": [12], "level": [DEFAULT_LEVEL]})


class ForecastModel(PythonModel):
    """One forecast per input row, concatenated in input order."""

    forecaster: Forecaster

    # No type hints on the MLflow hooks: MLflow would try to derive a schema from them.
    def load_context(self, context):  # type: ignore[no-untyped-def]
        self.forecaster = Forecaster.from_json(Path(context.artifacts[ARTIFACT]).read_text())

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        try:
            return self.forecaster.predict(model_input)
        except InvalidInput as exc:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


def log_forecaster(forecaster: Forecaster, registered_model_name: str) -> Any:
    """Log `forecaster` as the active run's model and register it; MLflow's `ModelInfo`. The
    caller has set up MLflow's client (`services.trainer.run.configure_mlflow`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{ARTIFACT}.json"
        path.write_text(forecaster.to_json())
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=ForecastModel(),
            artifacts={ARTIFACT: str(path)},
            signature=SIGNATURE,
            input_example=INPUT_EXAMPLE,
            pip_requirements=_requirements(),
            metadata={FORMAT_KEY: FORMAT},
            registered_model_name=registered_model_name,
        )


def _requirements() -> list[str]:
    packages = ("mlflow-skinny", "pandas", "numpy", "mlflow-serving-stack")
    return [f"{name}=={installed(name)}" for name in packages]
