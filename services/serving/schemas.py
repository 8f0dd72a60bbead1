"""Request and response bodies of the API's own routes (`/invocations` speaks MLflow's)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # strict: "30", 30.0 and true are refused, not coerced; the upper bound is MAX_HORIZON,
    # checked in the route because it is a setting.
    horizon: int = Field(strict=True, ge=1, description="Periods to forecast (1..MAX_HORIZON).")
    level: float | None = Field(
        None,
        gt=0,
        lt=1,
        allow_inf_nan=False,
        description="Prediction interval level, e.g. 0.9; the model's default (0.95) if absent.",
    )


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
