"""Request and response bodies of the API's own routes (`/invocations` speaks MLflow's), and
the request rules, stated once: a horizon from 1 to MAX_HORIZON, a level strictly between 0 and 1.
`PredictRequest` applies them, the fast paths (`plain_row`) and MLflow's scorer (`protocol.py`)
call the same checks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MIN_HORIZON = 1
MIN_LEVEL, MAX_LEVEL = 0.0, 1.0  # both excluded
Row = tuple[int, float | None]  # (horizon, level) of one forecast request
# The series a request names: one id, several (in request order), or None for the model's one.
Series = str | tuple[str, ...] | None
Ask = tuple[str | None, int, float | None]  # one forecast: (series, horizon, level)


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

    def over_limit(self, max_horizon: int) -> dict[str, Any] | None:
        """The 422 error, worded as pydantic's own `le`, when `horizon` exceeds MAX_HORIZON."""
        if horizon_ok(self.horizon, max_horizon):
            return None
        return {
            "type": "less_than_equal",
            "loc": ("body", "horizon"),
            "msg": f"Input should be less than or equal to {max_horizon}",
            "input": self.horizon,
            "ctx": {"le": max_horizon},
        }


class ForecastRow(BaseModel):
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
    metrics: dict[str, float] = Field(description="The training run's metrics (smape, mase, ...).")
    tags: dict[str, str] = Field(description="The version's tags (decision, scores).")


class Status(BaseModel):
    status: str
    version: str | None = None


class Problem(BaseModel):
    detail: str


class MlflowError(BaseModel):
    error_code: str
    message: str
