"""Serving settings, read from the environment once per process; nothing else in the API reads
the environment. The fields, their variables and their checks are the deploy contract's
`ApiEnv` (contract/api.py), which the deployment and the local stack write."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.api import ApiEnv


class Settings(ApiEnv, BaseSettings):
    """Everything `mlstack serve` needs; each field's env name is its upper-case name."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", protected_namespaces=(), frozen=True
    )

    @property
    def token(self) -> bytes | None:
        """The bearer token as bytes for a constant-time compare; None when auth is off."""
        if self.api_token is None or not self.api_token.get_secret_value():
            return None
        return self.api_token.get_secret_value().encode()
