"""Trainer settings: flags override environment variables, which override defaults, so a
Kubernetes Job can run `mlstack train` with no arguments."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.forecasting.models import DEFAULT_FAMILIES, FAMILIES
from services.spec import BUNDLED_DATA

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
    families: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_FAMILIES, validation_alias=_env("families", "FAMILIES")
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
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(FAMILIES))
        if unknown or not value:
            raise ValueError(
                f"unknown or no model families {unknown}; choose from {', '.join(FAMILIES)}"
            )
        return value
