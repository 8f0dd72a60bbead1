"""Trainer settings: flags override environment variables, which override defaults, so a
Kubernetes Job can run `mlstack train` with no arguments. Each field is named as its
environment variable (matched case-insensitively), so no name is written twice."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.trainer import BUNDLED_DATA
from services.forecasting.longcsv import Columns
from services.forecasting.specs import FAMILIES

__all__ = ["BUNDLED_DATA", "TrainConfig"]  # BUNDLED_DATA: bench/ reads it from here


class TrainConfig(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    data_uri: str = str(BUNDLED_DATA)
    mlflow_tracking_uri: str | None = None
    model_name: str = Field("ForecastModel", min_length=1)
    experiment_name: str = Field("forecasting", min_length=1)
    model_alias: str = Field("prod", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    horizon: int | None = Field(None, ge=1, le=10_000)
    promote: bool = True
    families: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        None, description="the mean of these model families instead of the default model"
    )
    id_column: str = Field(
        "unique_id",
        min_length=1,
        description="the series column of a long CSV of many series; without it, one series",
    )
    series_id: str = Field(
        "y", min_length=1, description="the id of the one series of a CSV without the series column"
    )
    ds_column: str = "ds"
    y_column: str = "y"
    freq: str | None = None
    season_length: int | None = Field(None, ge=1, le=1000)
    max_train_points: int = Field(
        2000,
        ge=50,
        description=(
            "fit on at most this many of the most recent points (bounds time and memory), or on "
            "as many as a long horizon's three backtest folds need"
        ),
    )
    global_path: int = Field(
        365,
        ge=1,
        le=10_000,
        description=(
            "the steps of the global model's forecast kept in the model (the API's longest "
            "horizon by default); further ahead the statistical members forecast alone"
        ),
    )
    train_workers: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="processes that fit series in parallel (default: every core)",
    )
    dask_scheduler_address: str | None = Field(
        None, description="fit the series on this Dask cluster instead of a local process pool"
    )
    max_regressed: float = Field(
        0.10,
        ge=0,
        le=1,
        description="promotion: the largest share of compared series allowed to regress",
    )
    regression_tolerance: float = Field(
        0.10,
        ge=0,
        description="promotion: a series regresses when its SMAPE is worse by more than this share",
    )
    score_min_points: int = Field(
        1, ge=1, description="score a series only once it has this many new points (else they wait)"
    )
    promote_if_degraded: bool = Field(
        False,
        description="promotion: a challenger that ties the champion wins when the champion's "
        "realised SMAPE is above its backtest's by the degradation ratio",
    )
    degradation_ratio: float = Field(
        1.5,
        gt=1,
        description="realised SMAPE over backtest SMAPE above which the champion is degraded",
    )
    data_timeout_seconds: float = Field(
        30.0, gt=0, description="per-request timeout when reading the data over S3 or HTTP"
    )
    mlflow_timeout_seconds: float = Field(
        60.0, gt=0, description="how long to keep retrying an unreachable MLflow before giving up"
    )
    # MLflow's own variables, read here with the rest; `tracking.configure_mlflow` hands them
    # over.
    mlflow_http_request_timeout: int = Field(
        30, ge=1, description="seconds each MLflow request may take (MLflow's default is 120)"
    )
    mlflow_http_request_max_retries: int = Field(
        3,
        ge=0,
        le=10,  # MLflow refuses more (_MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT)
        description="retries of a failed MLflow request (MLflow's default of 7 takes minutes)",
    )
    mlflow_recovery_seconds: float = Field(
        300.0,
        gt=0,
        description="how long a run MLflow failed waits for it to come back, to mark the run "
        "FAILED instead of leaving it RUNNING",
    )

    @property
    def columns(self) -> Columns:
        return Columns(self.id_column, self.series_id, self.ds_column, self.y_column)

    @field_validator("families", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("families")
    @classmethod
    def _known(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - set(FAMILIES))
        if unknown or not value:
            raise ValueError(
                f"unknown or no model families {unknown}; choose from {', '.join(FAMILIES)}"
            )
        return value
