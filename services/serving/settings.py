"""Serving settings, read from the environment once per process (names as the deployment sets
them, through `services/spec.py`); nothing else in the API reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.spec import MODEL_CACHE_DIR


class Settings(BaseSettings):
    """Everything `mlstack serve` needs; each field's env name is its upper-case name."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", protected_namespaces=())

    mlflow_tracking_uri: str | None = None
    model_name: str = "ForecastModel"
    model_alias: str = "prod"
    model_poll_seconds: float = Field(30.0, gt=0)
    max_horizon: int = Field(365, ge=1)
    max_series_per_request: int = Field(100, ge=1)  # ids one /predict may name
    api_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Of a body over the limit, how much is read and dropped so the client can read its 413.
    max_discard_bytes: int = Field(64 * 1024 * 1024, ge=0)
    # Memory the cached forecasts of the served version may take; 0 disables the cache.
    forecast_cache_bytes: int = Field(64 * 2**20, ge=0)
    retry_after_seconds: int = Field(5, ge=1)
    # A per-client token bucket (ratelimit.py): 0 turns it off (the default; on with public
    # access on EKS). Behind a proxy, the client is read from X-Forwarded-For only when the peer
    # is one of the trusted proxies (comma-separated CIDRs).
    rate_limit_per_minute: int = Field(0, ge=0)
    rate_limit_burst: int = Field(20, ge=1)
    rate_limit_trusted_proxies: str = ""
    # How long an idle client connection stays open; behind a load balancer, longer than its
    # idle timeout, or it reuses a connection the API has just closed (a 502).
    keep_alive_seconds: int = Field(5, ge=1)
    log_level: str = "info"
    # The last version loaded and warmed, served after a restart while the registry is down;
    # empty turns the cache off.
    model_cache_dir: Path | None = Path(MODEL_CACHE_DIR)
    # prometheus_client's own variable: with several workers, where each writes its metrics.
    prometheus_multiproc_dir: str | None = None

    @field_validator("model_cache_dir", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("rate_limit_trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        from services.serving.ratelimit import networks

        networks(value)  # a ValueError names the bad entry
        return value

    @property
    def token(self) -> bytes | None:
        """The bearer token as bytes for a constant-time compare; None when auth is off."""
        if self.api_token is None or not self.api_token.get_secret_value():
            return None
        return self.api_token.get_secret_value().encode()
