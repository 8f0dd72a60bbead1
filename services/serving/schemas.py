"""Request and response bodies of the API's own routes (`/invocations` speaks MLflow's), and
the request rules, stated once: a horizon from 1 to MAX_HORIZON, a level strictly between 0 and 1,
and the series: one id or a list of 1 to MAX_SERIES_PER_REQUEST ids, each one the served model
knows, and required when the model has several. `PredictRequest` applies them, the fast paths
(`plain_row`, `plain_series`, `series_error`) and MLflow's scorer (`protocol.py`) call the same
checks."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

MIN_HORIZON = 1
MIN_LEVEL, MAX_LEVEL = 0.0, 1.0  # both excluded
Row = tuple[int, float | None]  # (horizon, level) of one forecast request
# The series a request names: one id, several (in request order), or None for the model's one.
Series = str | tuple[str, ...] | None
Ask = tuple[str | None, int, float | None]  # one forecast: (series, horizon, level)


class NotPlain:
    """`plain_series`'s answer when the route must judge the value."""


NOT_PLAIN = NotPlain()


def horizon_ok(horizon: float, max_horizon: int) -> bool:
    return MIN_HORIZON <= horizon <= max_horizon


def level_ok(level: float) -> bool:
    return MIN_LEVEL < level < MAX_LEVEL


def plain_row(horizon: object, level: object, max_horizon: int) -> Row | None:
    """(horizon, level) when both already have their types (int, float or None) and obey the
    rules; None when anything would need coercing or refusing, which the routes decide."""
    if type(horizon) is not int or not horizon_ok(horizon, max_horizon):
        return None
    if level is not None and (type(level) is not float or not level_ok(level)):
        return None
    return horizon, level


def plain_series(value: object, max_series: int) -> Series | NotPlain:
    """`value` as `Series` when it already has its type (a string, a list of 1 to `max_series`
    strings, or None) and obeys the rules; `NOT_PLAIN` otherwise, which the route decides."""
    if value is None or type(value) is str:
        return value
    if type(value) is not list or not 1 <= len(value) <= max_series:
        return NOT_PLAIN
    if not all(type(v) is str for v in value):
        return NOT_PLAIN
    return tuple(value)


def series_error(series: Series, known: Collection[str]) -> dict[str, Any] | None:
    """The 422 error when `series` does not fit the served model, whose ids are `known` (empty
    for a model that names none): an unknown id, or none given to a model of several; else
    None. The same rule decides whether `/invocations` rows are answered without MLflow."""
    count = len(known)
    if series is None:
        if count <= 1:
            return None
        return _series_problem(
            "missing", None, f"This model has {count:,} series: name one or more in 'series'"
        )
    if not count:
        return _series_problem(
            "value_error", series, "This model does not name its series: send no 'series'"
        )
    asked = (series,) if isinstance(series, str) else series
    unknown = [s for s in dict.fromkeys(asked) if s not in known]
    if not unknown:
        return None
    more = f" (and {len(unknown) - 1:,} more unknown)" if len(unknown) > 1 else ""
    return _series_problem(
        "value_error", series, f"Unknown series {unknown[0]!r}{more}: the model has {count:,}"
    )


def _series_problem(kind: str, given: Series, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "loc": ("body", "series"),
        "msg": f"{message} (GET /series lists them)",
        "input": list(given) if isinstance(given, tuple) else given,
    }


SeriesList = Annotated[list[StrictStr], Field(min_length=1)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # strict: "30", 30.0 and true are refused, not coerced; the upper bound is MAX_HORIZON, a
    # setting, so `over_limit` checks it once the app knows it.
    horizon: int = Field(
        strict=True, ge=MIN_HORIZON, description="Periods to forecast (1..MAX_HORIZON)."
    )
    level: float | None = Field(
        None,
        gt=MIN_LEVEL,
        lt=MAX_LEVEL,
        allow_inf_nan=False,
        description="Prediction interval level, e.g. 0.9; the model's default (0.95) if absent.",
    )
    # A list's upper bound is MAX_SERIES_PER_REQUEST, a setting, like the horizon's.
    series: StrictStr | SeriesList | None = Field(
        None,
        description="The series to forecast: one id, or a list of up to MAX_SERIES_PER_REQUEST "
        "(GET /series lists them). Required when the model has several; each forecast row then "
        "carries its unique_id.",
    )

    def over_limit(self, max_horizon: int, max_series: int) -> dict[str, Any] | None:
        """The 422 error, worded as pydantic's own `le` and `max_length`, when `horizon` exceeds
        MAX_HORIZON or `series` lists more than MAX_SERIES_PER_REQUEST ids."""
        if not horizon_ok(self.horizon, max_horizon):
            return {
                "type": "less_than_equal",
                "loc": ("body", "horizon"),
                "msg": f"Input should be less than or equal to {max_horizon}",
                "input": self.horizon,
                "ctx": {"le": max_horizon},
            }
        if isinstance(self.series, list) and len(self.series) > max_series:
            return {
                "type": "too_long",
                "loc": ("body", "series"),
                "msg": f"List should have at most {max_series} items after validation, "
                f"not {len(self.series)}",
                "input": self.series,
                "ctx": {"field_type": "List", "max_length": max_series},
            }
        return None

    @property
    def asked(self) -> Series:
        """`series` as the answers take it (a list becomes a tuple)."""
        return tuple(self.series) if isinstance(self.series, list) else self.series


class ForecastRow(BaseModel):
    unique_id: str | None = Field(
        None, description="The row's series; present when the request names series."
    )
    ds: str
    yhat: float
    yhat_lower: float
    yhat_upper: float


class ServedModel(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    run_id: str


class PredictResponse(BaseModel):
    model: ServedModel
    forecast: list[ForecastRow]


class InvocationsResponse(BaseModel):
    predictions: list[dict[str, Any]]


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    run_id: str
    alias: str
    loaded_at: str = Field(description="When this version was loaded (ISO 8601, UTC).")
    load_seconds: float
    trained_at: str | None = Field(description="When its training run finished (ISO 8601, UTC).")
    series: int | None = Field(
        None,
        description="How many series it forecasts (GET /series lists them); null for a model "
        "that does not name its series (a pyfunc this project did not log).",
    )
    metrics: dict[str, float] = Field(description="The training run's metrics (smape, mase, ...).")
    tags: dict[str, str] = Field(description="The version's tags (decision, scores).")
    source: Literal["registry", "cache"] = Field(
        description="Where it was loaded from: the registry, or the local model cache "
        "(MODEL_CACHE_DIR) after a restart while the registry is unreachable."
    )


class SeriesPage(BaseModel):
    total: int = Field(description="How many series the served model has.")
    offset: int
    limit: int
    series: list[str] = Field(description="Their ids, sorted, from `offset`.")


class Status(BaseModel):
    status: str
    version: str | None = None


class Problem(BaseModel):
    detail: str


class MlflowError(BaseModel):
    error_code: str
    message: str
