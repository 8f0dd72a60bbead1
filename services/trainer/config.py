"""Trainer settings: flags override environment variables, which override defaults, so a
Kubernetes Job can run `mlstack train` with no arguments. The fields, their variables (each
named as its field, matched case-insensitively) and their checks are the deploy contract's
`TrainEnv` (contract/trainer.py), which the Job and the local stack write; here are the checks
that need the application."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.trainer import BUNDLED_DATA, TrainEnv
from services.forecasting.longcsv import Columns
from services.forecasting.specs import FAMILIES

__all__ = ["BUNDLED_DATA", "TrainConfig"]  # BUNDLED_DATA: bench/ reads it from here


class TrainConfig(TrainEnv, BaseSettings):
    # No JSON decoding of variables: FAMILIES is a comma list (`TrainEnv` splits it).
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", enable_decoding=False, protected_namespaces=()
    )

    @property
    def columns(self) -> Columns:
        return Columns(self.id_column, self.series_id, self.ds_column, self.y_column)

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
