"""What the API needs of a loaded model, and the two kinds it serves: the project's own
forecasters, read from their JSON artifact without MLflow, and any other MLflow pyfunc.

Everything that differs between the two lives here, behind `Model`: how a forecast is computed,
which series the model names, where MLflow's own scoring finds its pyfunc, and which files the
model cache may keep.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from services.forecasting.forecaster import DEFAULT_LEVEL, Forecaster
from services.forecasting.forecasters import ID
from services.serving.forecasts import RenderedForecast, render_columns, render_frame


class Model(Protocol):
    """A loaded model version, as the API serves it."""

    @property
    def ids(self) -> tuple[str, ...]:
        """Its series, sorted (for paging); empty for a model that does not name them."""
        ...

    @property
    def series(self) -> Collection[str]:
        """The same ids, for `in` at dictionary speed."""
        ...

    def forecast(self, series: str | None, horizon: int, level: float | None) -> RenderedForecast:
        """One forecast (blocking: call it from a worker thread). With a `series`, every record
        starts with its `unique_id`, as the pyfunc answers such a row."""
        ...

    @property
    def pyfunc(self) -> Any:
        """MLflow's `PyFuncModel` of the same files, for MLflow's own scoring code."""
        ...

    @property
    def own_files(self) -> Path | None:
        """The folder of a model in the project's own format (the model cache keeps it); None for
        any other."""
        ...


@dataclass(eq=False)
class OwnForecasters:
    """Our forecasters, one per series, loaded from their JSON artifact (one file for one
    series, JSON lines for many). Plain columns in and out: no MLflow, no DataFrames, until a
    request needs MLflow's own scoring (CSV, `params`, unusual payloads)."""

    by_id: Mapping[str, Forecaster]  # a model of many series builds each on first use
    folder: Path
    ids: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = tuple(sorted(self.by_id))

    @property
    def series(self) -> Collection[str]:
        return self.by_id.keys()

    def forecast(self, series: str | None, horizon: int, level: float | None) -> RenderedForecast:
        import pandas as pd

        if series is None:
            (forecaster,) = self.by_id.values()  # a model of one series
        else:
            forecaster = self.by_id[series]
        columns = forecaster.columns(horizon, DEFAULT_LEVEL if level is None else level)
        if series is not None:
            columns = {ID: [series] * horizon, **columns}
        return render_columns(columns, lambda: pd.DataFrame(columns))

    @cached_property
    def pyfunc(self) -> Any:
        """MLflow's `PyFuncModel` around these forecasters, built here from the MLmodel's
        metadata (its signature, which MLflow's scorer enforces): loading the version through
        MLflow would run the code logged with it, or unpickle an older version's class."""
        from mlflow.models import Model as Metadata
        from mlflow.pyfunc import PyFuncModel

        from services.forecasting.forecasters import Forecasters
        from services.forecasting.pyfunc import ForecastModel

        own = ForecastModel()
        own.model = Forecasters(self.by_id)
        metadata = Metadata.load(str(self.folder / "MLmodel"))
        return PyFuncModel(model_meta=metadata, model_impl=_Scoring(own))

    @property
    def own_files(self) -> Path | None:
        return self.folder


@dataclass(frozen=True)
class _Scoring:
    """The project's pyfunc as MLflow's `PyFuncModel` calls its implementation."""

    model: Any  # a ForecastModel

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict(None, data, params)


@dataclass(eq=False)
class ForeignPyfunc:
    """Any other pyfunc (or anything with its `predict`), through its MLflow wrapper: a row of
    `n_periods` (and `level`, `unique_id` when asked) in, whatever it returns written as MLflow
    writes it. It names no series."""

    pyfunc: Any
    ids: tuple[str, ...] = ()
    series: Collection[str] = frozenset()

    def forecast(self, series: str | None, horizon: int, level: float | None) -> RenderedForecast:
        import pandas as pd

        row: dict[str, list[Any]] = {} if series is None else {ID: [series]}
        row["n_periods"] = [horizon]
        if level is not None:
            row["level"] = [level]
        return render_frame(self.pyfunc.predict(pd.DataFrame(row)))

    @property
    def own_files(self) -> Path | None:
        return None


def warm(model: Model) -> RenderedForecast:
    """A first forecast, so that first-call costs are paid before any request: of the model's
    first series when it has several."""
    return model.forecast(model.ids[0] if len(model.ids) > 1 else None, 1, None)
