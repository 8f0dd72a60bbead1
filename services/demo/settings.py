"""The demo's settings, read from the environment through pydantic-settings (names as
`contract/demo.py`'s `demo_env` sets them); nothing else in the demo reads the environment."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class DemoSettings(BaseSettings):
    """Where the API is, its token, and the history CSV; each env name is the upper-case name."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    api_url: str = ""  # empty: the client's default, http://localhost:8000
    api_token: str = ""  # empty: no Authorization header
    demo_history: str = ""  # empty: no history drawn
