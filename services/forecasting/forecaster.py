"""A fitted model that knows its calendar and the last points it was fitted on, stored as a small
JSON object (a line of the model's artifact, `forecasters.py`).

It has no MLflow in it: the trainer wraps the artifact in an MLflow pyfunc (`pyfunc.py`), and
the API loads it directly, so serving a forecast never imports MLflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.forecasting.frequency import Frequency
from services.forecasting.models import from_state
from services.forecasting.specs import Fitted, Spec

DEFAULT_LEVEL = 0.95
OUTPUT_COLUMNS = ("ds", "yhat", "yhat_lower", "yhat_upper")
# The logged model's MLmodel `metadata` entry that names its artifact's format (`forecasters`).
FORMAT_KEY = "mlstack_forecaster"
# The most recent fitted points a forecaster keeps, for the chart beside its forecast (the API's
# history route): about 1 KB of JSON a series.
HISTORY_POINTS = 120


class InvalidInput(ValueError):
    pass


@dataclass(frozen=True)
class Forecaster:
    """`n_periods` (and optional `level`) in; `ds, yhat, yhat_lower, yhat_upper` out. `history`:
    the last `HISTORY_POINTS` values it was fitted on, the last at `last_ds` (empty in versions
    trained before they were kept)."""

    fitted: Fitted
    frequency: Frequency
    last_ds: pd.Timestamp
    history: tuple[float, ...] = ()

    @classmethod
    def of(cls, fitted: Fitted, frequency: Frequency, y: Any, last_ds: pd.Timestamp) -> Forecaster:
        """The forecaster of `fitted` on the values `y`, the last at `last_ds`."""
        recent = np.asarray(y, dtype=float)[-HISTORY_POINTS:]
        return cls(fitted, frequency, last_ds, tuple(recent.tolist()))

    def forecast(self, n_periods: int, level: float = DEFAULT_LEVEL) -> pd.DataFrame:
        return pd.DataFrame(self.columns(n_periods, level))

    def columns(self, n_periods: int, level: float = DEFAULT_LEVEL) -> dict[str, list[Any]]:
        """The forecast as plain Python columns (what `forecast` puts in a DataFrame)."""
        if not isinstance(n_periods, int | np.integer) or n_periods < 1:
            raise InvalidInput(f"n_periods must be a positive integer, got {n_periods!r}")
        if not 0 < level < 1:
            raise InvalidInput(f"level must be between 0 and 1 (exclusive), got {level!r}")
        fc = self.fitted.forecast(int(n_periods), float(level))
        dates = self.frequency.dates_after(self.last_ds, int(n_periods))
        return {
            "ds": self._text(dates),
            "yhat": fc.mean.tolist(),
            # Guard the ordering against numerical noise so lower <= yhat <= upper always holds.
            "yhat_lower": np.minimum(fc.lower, fc.mean).tolist(),
            "yhat_upper": np.maximum(fc.upper, fc.mean).tolist(),
        }

    def recent(self, points: int) -> dict[str, list[Any]]:
        """The last `points` (at most) of `history` as plain columns `ds, y`, oldest first."""
        values = list(self.history[-points:]) if points > 0 else []
        dates = pd.date_range(end=self.last_ds, periods=len(values), freq=self.frequency.alias)
        return {"ds": self._text(dates), "y": values}

    def _text(self, dates: pd.DatetimeIndex) -> list[str]:
        """Dates as the API writes them: ISO days, with the time of day for hourly series."""
        shape = "%Y-%m-%dT%H:%M:%S" if self.frequency.alias == "h" else "%Y-%m-%d"
        return list(dates.strftime(shape))

    def predict(self, model_input: Any) -> pd.DataFrame:
        """One forecast per input row (columns `n_periods`, optional `level`), in input order."""
        frames = [self.forecast(n, level) for n, level in _rows(model_input)]
        if not frames:
            return pd.DataFrame(columns=list(OUTPUT_COLUMNS))
        return pd.concat(frames, ignore_index=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.fitted.spec.to_dict(),
            "state": self.fitted.state(),
            "frequency": {
                "alias": self.frequency.alias,
                "season_length": self.frequency.season_length,
            },
            "last_ds": self.last_ds.isoformat(),
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, text: str) -> Forecaster:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Forecaster:
        spec = Spec.from_dict(data["spec"])
        return cls(
            from_state(spec, data["state"]),
            Frequency(**data["frequency"]),
            pd.Timestamp(data["last_ds"]),
            tuple(data.get("history", ())),
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
