"""Request and response bodies of the API's routes as the OpenAPI document describes them
(`/invocations` speaks MLflow's protocol). The request models describe; they never validate a
request: the door parses once (`parse.py`) by the rules of `rules.py`, whose bounds these
fields take, and the tests hold the two in agreement."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from services.serving.rules import MAX_LEVEL, MIN_HORIZON, MIN_LEVEL

SeriesList = Annotated[list[StrictStr], Field(min_length=1)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # strict: "30", 30.0 and true are refused, not coerced; the upper bound is MAX_HORIZON, a
    # setting, which the schema cannot say.
    horizon: int = Field(
        strict=True, ge=MIN_HORIZON, description="Periods to forecast (1..MAX_HORIZON)."
    )
    level: float | None = Field(
        None,
        strict=True,
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


class ForecastRow(BaseModel):
    unique_id: str | None = Field(
        None, description="The row's series; present when the request names series."
    )
    ds: str
    yhat: float
    yhat_lower: float
    yhat_upper: float


class ServedModel(BaseModel):
    """The registered version that answered (`Served.model_json` is written from it)."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    run_id: str


class PredictResponse(BaseModel):
    model: ServedModel
    forecast: list[ForecastRow]


class InvocationsResponse(BaseModel):
    predictions: list[dict[str, Any]]


class ModelInfo(ServedModel):
    """`GET /model`: the served version, where it came from, and its training's facts."""

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
        description="Where this version's files were loaded from: the registry, or the local "
        "model cache (MODEL_CACHE_DIR) after a restart while the registry was unreachable. "
        "Whether the registry answers now is `registry`."
    )
    registry: Literal["reachable", "unreachable"] = Field(
        description="Whether the last look at the alias (every MODEL_POLL_SECONDS) reached the "
        "registry; while it is unreachable the loaded version keeps serving."
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
