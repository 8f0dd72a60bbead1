"""The MLflow pyfunc around the forecasters of a model's series, and how the trainer logs it.

The model is logged from code (`logged_model.py`, MLflow's models from code), so a version holds
that file's source and its JSON artifact (`forecasters.py`), and no pickle: loading a version
runs only this project's code. The model's metadata names its artifact's format, so the API can
load it without MLflow (`services/serving/loader.py`). Versions registered before hold a
pickled `ForecastModel` and a `json/1` artifact: both still load.
"""

from __future__ import annotations

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
from services.forecasting.forecaster import DEFAULT_LEVEL, FORMAT_KEY, OUTPUT_COLUMNS, InvalidInput
from services.forecasting.forecasters import ID, Forecasters

MODEL_CODE = Path(__file__).with_name("logged_model.py")
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
        else:  # a version registered before: one series' JSON file
            by_id = forecasters.read_single(Path(artifacts[forecasters.SINGLE_ARTIFACT]))
        self.model = Forecasters(by_id)

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        try:
            return self.model.predict(model_input)
        except InvalidInput as exc:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


def log_model(lines: Mapping[str, str], name: str) -> Any:
    """Log the model of every series (each series' `forecasters.line`, by id) as the active
    run's model and register it as `name`; MLflow's `ModelInfo`. The caller has set up MLflow's
    client (`services.trainer.tracking.configure_mlflow`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{forecasters.ARTIFACT}.jsonl"
        forecasters.write(path, lines)
        example = INPUT_EXAMPLE.assign(**{ID: min(lines)})[[ID, *INPUT_EXAMPLE.columns]]
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={forecasters.ARTIFACT: str(path)},
            signature=SIGNATURE,
            input_example=example,
            pip_requirements=_requirements(),
            metadata={FORMAT_KEY: forecasters.FORMAT},
            registered_model_name=name,
        )


def _requirements() -> list[str]:
    packages = ("mlflow-skinny", "pandas", "numpy", "mlflow-serving-stack")
    return [f"{name}=={installed(name)}" for name in packages]
