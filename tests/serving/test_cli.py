"""`mlstack serve`: settings from the environment, flags over them, and uvicorn's arguments."""

from __future__ import annotations

from typing import Any

import pytest
import typer
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from services.serving.cli import serve


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve)
    return app


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for name in ("HOST", "PORT", "WORKERS", "API_TOKEN", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_serve_runs_one_uvicorn_worker_with_the_env_settings(
    cli: typer.Typer, ran: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("MODEL_NAME", "Airline")
    monkeypatch.setenv("MODEL_POLL_SECONDS", "5")
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0, result.output
    ((app, kwargs),) = ran
    assert isinstance(app, FastAPI)
    assert app.state.settings.model_name == "Airline"
    assert app.state.settings.model_poll_seconds == 5
    assert kwargs["port"] == 8123
    assert kwargs["access_log"] is False
    assert "workers" not in kwargs


def test_flags_override_the_environment(
    cli: typer.Typer, ran: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "8123")
    result = CliRunner().invoke(cli, ["--port", "9001", "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    assert ran[0][1]["port"] == 9001
    assert ran[0][1]["host"] == "0.0.0.0"


def test_a_bad_setting_names_the_variable_and_exits_1(
    cli: typer.Typer, ran: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_HORIZON", "0")
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 1
    assert "MAX_HORIZON" in result.output
    assert "Traceback" not in result.output
    assert ran == []


def test_several_workers_need_a_prometheus_multiprocess_dir(
    cli: typer.Typer, ran: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKERS", "2")
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 1
    assert "PROMETHEUS_MULTIPROC_DIR" in result.output
    assert ran == []


def test_keep_alive_comes_from_the_env_and_defaults_to_uvicorns_own(
    cli: typer.Typer, ran: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CliRunner().invoke(cli, []).exit_code == 0
    monkeypatch.setenv("KEEP_ALIVE_SECONDS", "75")  # behind an ALB with a 60 s idle timeout
    assert CliRunner().invoke(cli, []).exit_code == 0
    assert [kw["timeout_keep_alive"] for _, kw in ran] == [5, 75]


def test_a_token_shorter_than_32_characters_is_refused_at_start(
    cli: typer.Typer, ran: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "s" * 31)
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 1
    assert "API_TOKEN" in result.output and "at least 32" in result.output
    assert "s" * 31 not in result.output  # the token itself is never printed
    assert "Traceback" not in result.output
    assert ran == []
    monkeypatch.setenv("API_TOKEN", "s" * 32)
    assert CliRunner().invoke(cli, []).exit_code == 0
