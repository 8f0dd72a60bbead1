"""Trainer settings: flags override environment variables, which override defaults, so a
Kubernetes Job can run `mlstack train` with no arguments."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.trainer import BUNDLED_DATA
from services.forecasting.models import FAMILIES

__all__ = ["BUNDLED_DATA", "TrainConfig"]  # BUNDLED_DATA: bench/ reads it from here


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class TrainConfig(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    data_uri: str = Field(str(BUNDLED_DATA), validation_alias=_env("data_uri", "DATA_URI"))
    tracking_uri: str | None = Field(
        None, validation_alias=_env("tracking_uri", "MLFLOW_TRACKING_URI")
    )
    model_name: str = Field(
        "ForecastModel", min_length=1, validation_alias=_env("model_name", "MODEL_NAME")
    )
    experiment: str = Field(
        "forecasting", min_length=1, validation_alias=_env("experiment", "EXPERIMENT_NAME")
    )
    alias: str = Field(
        "prod", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", validation_alias=_env("alias", "MODEL_ALIAS")
    )
    horizon: int | None = Field(None, ge=1, le=10_000, validation_alias=_env("horizon", "HORIZON"))
    promote: bool = Field(True, validation_alias=_env("promote", "PROMOTE"))
    families: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        None,
        validation_alias=_env("families", "FAMILIES"),
        description="the mean of these model families instead of the default model",
    )
    id_column: str = Field(
        "unique_id",
        min_length=1,
        validation_alias=_env("id_column", "ID_COLUMN"),
        description="the series column of a long CSV of many series; without it, one series",
    )
    series_id: str = Field(
        "y",
        min_length=1,
        validation_alias=_env("series_id", "SERIES_ID"),
        description="the id of the one series of a CSV without the series column",
    )
    ds_column: str = Field("ds", validation_alias=_env("ds_column", "DS_COLUMN"))
    y_column: str = Field("y", validation_alias=_env("y_column", "Y_COLUMN"))
    freq: str | None = Field(None, validation_alias=_env("freq", "FREQ"))
    season_length: int | None = Field(
        None, ge=1, le=1000, validation_alias=_env("season_length", "SEASON_LENGTH")
    )
    max_train_points: int = Field(
        2000,
        ge=50,
        validation_alias=_env("max_train_points", "MAX_TRAIN_POINTS"),
        description=(
            "fit on at most this many of the most recent points (bounds time and memory), or on "
            "as many as a long horizon's three backtest folds need"
        ),
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=1024,
        validation_alias=_env("workers", "TRAIN_WORKERS"),
        description="processes that fit series in parallel (default: every core)",
    )
    dask_scheduler_address: str | None = Field(
        None,
        validation_alias=_env("dask_scheduler_address", "DASK_SCHEDULER_ADDRESS"),
        description="fit the series on this Dask cluster instead of a local process pool",
    )
    max_regressed: float = Field(
        0.10,
        ge=0,
        le=1,
        validation_alias=_env("max_regressed", "MAX_REGRESSED"),
        description="promotion: the largest share of compared series allowed to regress",
    )
    regression_tolerance: float = Field(
        0.10,
        ge=0,
        validation_alias=_env("regression_tolerance", "REGRESSION_TOLERANCE"),
        description="promotion: a series regresses when its SMAPE is worse by more than this share",
    )
    score_min_points: int = Field(
        1,
        ge=1,
        validation_alias=_env("score_min_points", "SCORE_MIN_POINTS"),
        description="score a series only once it has this many new points (else they wait)",
    )
    promote_if_degraded: bool = Field(
        False,
        validation_alias=_env("promote_if_degraded", "PROMOTE_IF_DEGRADED"),
        description="promotion: a challenger that ties the champion wins when the champion's "
        "realised SMAPE is above its backtest's by the degradation ratio",
    )
    degradation_ratio: float = Field(
        1.5,
        gt=1,
        validation_alias=_env("degradation_ratio", "DEGRADATION_RATIO"),
        description="realised SMAPE over backtest SMAPE above which the champion is degraded",
    )
    data_timeout: float = Field(
        30.0,
        gt=0,
        validation_alias=_env("data_timeout", "DATA_TIMEOUT_SECONDS"),
        description="per-request timeout when reading the data over S3 or HTTP",
    )
    mlflow_timeout: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("mlflow_timeout", "MLFLOW_TIMEOUT_SECONDS"),
        description="how long to keep retrying an unreachable MLflow before giving up",
    )
    # MLflow's own variables, read here with the rest; `run.configure_mlflow` hands them over.
    mlflow_request_timeout: int = Field(
        30,
        ge=1,
        validation_alias=_env("mlflow_request_timeout", "MLFLOW_HTTP_REQUEST_TIMEOUT"),
        description="seconds each MLflow request may take (MLflow's default is 120)",
    )
    mlflow_request_retries: int = Field(
        3,
        ge=0,
        le=10,  # MLflow refuses more (_MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT)
        validation_alias=_env("mlflow_request_retries", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"),
        description="retries of a failed MLflow request (MLflow's default of 7 takes minutes)",
    )
    mlflow_recovery_timeout: float = Field(
        300.0,
        gt=0,
        validation_alias=_env("mlflow_recovery_timeout", "MLFLOW_RECOVERY_SECONDS"),
        description="how long a run MLflow failed waits for it to come back, to mark the run "
        "FAILED instead of leaving it RUNNING",
    )

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
