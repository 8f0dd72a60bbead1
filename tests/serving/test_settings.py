"""Settings come from the environment variable names the deployment sets."""

from __future__ import annotations

import pytest

from contract.api import ApiEnv
from contract.service import SCRATCH
from services.serving.settings import Settings


def test_defaults_match_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODEL_NAME", "MODEL_ALIAS", "MODEL_POLL_SECONDS", "MAX_HORIZON", "API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.model_name == "ForecastModel"
    assert settings.model_alias == "prod"
    assert settings.model_poll_seconds == 30
    assert settings.max_horizon == 365
    assert settings.token is None
    assert settings.workers == 1


# A value other than the default for every setting, under the name the deployment sets.
EVERY_SETTING = {
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "MODEL_NAME": "Airline",
    "MODEL_ALIAS": "staging",
    "MODEL_POLL_SECONDS": "2.5",
    "MAX_HORIZON": "48",
    "API_TOKEN": "t0ken-of-at-least-thirty-two-chars",
    "HOST": "0.0.0.0",
    "PORT": "9000",
    "WORKERS": "3",
    "MAX_BODY_BYTES": "2048",
    "MAX_DISCARD_BYTES": "4096",
    "MAX_SERIES_PER_REQUEST": "20",
    "MAX_POINTS_PER_REQUEST": "600",
    "FORECAST_CACHE_BYTES": "7000",
    "RETRY_AFTER_SECONDS": "9",
    "LOG_LEVEL": "debug",
    "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics",
    "MODEL_CACHE_DIR": "/tmp/models",
    "RATE_LIMIT_PER_MINUTE": "120",
    "RATE_LIMIT_BURST": "7",
    "RATE_LIMIT_TRUSTED_PROXIES": "10.0.0.0/8",
    "KEEP_ALIVE_SECONDS": "75",
    "REQUEST_READ_SECONDS": "2.5",
    "ALLOW_FOREIGN_MODELS": "true",
}


def test_every_setting_is_read_from_its_env_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(EVERY_SETTING) == {name.upper() for name in Settings.model_fields}  # all of them
    for name, value in EVERY_SETTING.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    assert (settings.model_name, settings.model_alias) == ("Airline", "staging")
    assert settings.model_poll_seconds == 2.5
    assert settings.max_horizon == 48
    assert settings.token == b"t0ken-of-at-least-thirty-two-chars"
    assert (settings.host, settings.port, settings.max_body_bytes) == ("0.0.0.0", 9000, 2048)
    assert settings.max_discard_bytes == 4096
    assert (settings.workers, settings.forecast_cache_bytes) == (3, 7000)
    assert (settings.max_series_per_request, settings.max_points_per_request) == (20, 600)
    assert settings.request_read_seconds == 2.5
    assert settings.allow_foreign_models is True
    assert (settings.retry_after_seconds, settings.log_level) == (9, "debug")
    assert settings.prometheus_multiproc_dir == "/tmp/metrics"
    assert str(settings.model_cache_dir) == "/tmp/models"
    assert (settings.rate_limit_per_minute, settings.rate_limit_burst) == (120, 7)
    assert settings.rate_limit_trusted_proxies == "10.0.0.0/8"
    assert settings.keep_alive_seconds == 75


def test_an_empty_token_means_auth_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "")
    assert Settings().token is None


def test_the_model_cache_is_under_the_pods_scratch_volume_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODEL_CACHE_DIR", raising=False)
    assert Settings().model_cache_dir is not None
    assert Settings().model_cache_dir.is_relative_to(SCRATCH)  # type: ignore[union-attr]
    monkeypatch.setenv("MODEL_CACHE_DIR", "")
    assert Settings().model_cache_dir is None


def test_the_contract_writes_every_setting_as_the_settings_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in EVERY_SETTING.items():
        monkeypatch.setenv(name, value)
    read = Settings()
    assert ApiEnv(**read.model_dump()).to_env() == EVERY_SETTING
