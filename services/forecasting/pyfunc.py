"""The MLflow pyfunc wrapper: `n_periods` (and optional `level`) in; `ds, yhat, yhat_lower,
yhat_upper` out. The artifact is one JSON file of parameters and data, not a pickle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

from services.forecasting.frequency import Frequency
from services.forecasting.models import Fitted, Spec, from_state

DEFAULT_LEVEL = 0.95
ARTIFACT = "forecaster"
OUTPUT_COLUMNS = ("ds", "yhat", "yhat_lower", "yhat_upper")

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", "n_periods"), ColSpec("double", "level", required=False)]),
    outputs=Schema([ColSpec("string", "ds"), *(ColSpec("double", c) for c in OUTPUT_COLUMNS[1:])]),
)
INPUT_EXAMPLE = pd.DataFrame({"n_periods": [12], "level": [DEFAULT_LEVEL]})


class InvalidInput(ValueError):
    pass


@dataclass(frozen=True)
class Forecaster:
    """A fitted model that knows its calendar: forecasts come with their dates."""

    fitted: Fitted
    frequency: Frequency
    last_ds: pd.Timestamp

    def forecast(self, n_periods: int, level: float = DEFAULT_LEVEL) -> pd.DataFrame:
        if not isinstance(n_periods, int | np.integer) or n_periods < 1:
            raise InvalidInput(f"n_periods must be a positive integer, got {n_periods!r}")
        if not 0 < level < 1:
            raise InvalidInput(f"level must be between 0 and 1 (exclusive), got {level!r}")
        fc = self.fitted.forecast(int(n_periods), float(level))
        dates = self.frequency.dates_after(self.last_ds, int(n_periods))
        return pd.DataFrame(
            {
                "ds": dates.strftime(
                    "%Y-%m-%dT%H:%M:%S" if self.frequency.alias == "h" else "%Y-%m-%d"
                ),
                "yhat": fc.mean,
                # Guard the ordering against numerical noise so lower <= yhat <= upper always holds.
                "yhat_lower": np.minimum(fc.lower, fc.mean),
                "yhat_upper": np.maximum(fc.upper, fc.mean),
            }
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "spec": self.fitted.spec.to_dict(),
                "state": self.fitted.state(),
                "frequency": {
                    "alias": self.frequency.alias,
                    "season_length": self.frequency.season_length,
                },
                "last_ds": self.last_ds.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Forecaster:
        data = json.loads(text)
        spec = Spec.from_dict(data["spec"])
        return cls(
            from_state(spec, data["state"]),
            Frequency(**data["frequency"]),
            pd.Timestamp(data["last_ds"]),
        )


def _rows(model_input: Any) -> list[tuple[Any, float]]:
    frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
    if "n_periods" not in frame.columns:
        raise InvalidInput(f"input needs a column 'n_periods'; got {list(frame.columns)}")
    levels = (
        frame["level"] if "level" in frame.columns else pd.Series(DEFAULT_LEVEL, index=frame.index)
    )
    return [
        (n, DEFAULT_LEVEL if pd.isna(lv) else float(lv))
        for n, lv in zip(frame["n_periods"], levels, strict=True)
    ]


class ForecastModel(PythonModel):
    """One forecast per input row, concatenated in input order."""

    forecaster: Forecaster

    # No type hints on the MLflow hooks: MLflow would try to derive a schema from them.
    def load_context(self, context):  # type: ignore[no-untyped-def]
        self.forecaster = Forecaster.from_json(Path(context.artifacts[ARTIFACT]).read_text())

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        try:
            frames = [self.forecaster.forecast(n, level) for n, level in _rows(model_input)]
        except InvalidInput as exc:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        return (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=list(OUTPUT_COLUMNS))
        )
