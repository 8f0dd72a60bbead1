"""The local stack's values feed the shared specs: every `$(VAR)` expands, state stays put."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from contract.api import API
from contract.demo import DEMO
from contract.tracking import (
    ADMIN_PASSWORD_ENV,
    BACKEND_STORE_ENV,
    CLIENT_PASSWORD_ENV,
    CLIENT_USERNAME_ENV,
    DB_UPGRADE,
    READER,
    READER_MODEL_ENV,
    TRACKING,
    WRITER,
)
from contract.trainer import TRAINER
from services.local import credentials
from services.local.config import DEFAULT_PORTS, LocalConfig

TOKEN = "s3cret-local-token-of-32-characters"  # API_TOKEN: at least 32 characters


def test_every_spec_command_expands_from_the_stack_environment(tmp_path: Path) -> None:
    cfg = LocalConfig(state_dir=tmp_path).resolved()
    assert TRACKING.command(cfg.tracking_env())[:2] == ["mlstack", "tracking"]
    assert TRAINER.command(cfg.trainer_env()) == ["mlstack", "train"]
    assert API.command(cfg.api_env()) == ["mlstack", "serve"]
    assert DEMO.command(cfg.demo_env()) == ["mlstack", "demo", "--host", "127.0.0.1"]


def test_mlflow_keeps_its_database_and_artifacts_in_the_state_directory(tmp_path: Path) -> None:
    cfg = LocalConfig(state_dir=tmp_path / "state").resolved()
    env = cfg.tracking_env()
    argv = TRACKING.command(env)
    # The store's URI (a password, with a database) is read from the environment by MLflow.
    database = f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"
    assert env[BACKEND_STORE_ENV] == database and database not in argv
    assert str(tmp_path / "state" / "artifacts") in argv
    assert "--serve-artifacts" in argv


def test_a_tracking_db_holds_the_registry_and_stays_off_the_command_line(tmp_path: Path) -> None:
    uri = "postgresql://mlflow:s3cret@127.0.0.1:5432/mlflow"
    cfg = LocalConfig(state_dir=tmp_path / "state", tracking_db=uri).resolved()
    env = cfg.tracking_env()
    assert env[BACKEND_STORE_ENV] == uri
    assert "s3cret" not in " ".join(TRACKING.command(env) + DB_UPGRADE.command(env))
    assert str(tmp_path / "state" / "artifacts") in TRACKING.command(env)  # artifacts stay local


def test_api_follows_prod_on_the_local_tracking_server(tmp_path: Path) -> None:
    ports = {**DEFAULT_PORTS, "mlflow": 5123, "api": 8123}
    env = LocalConfig(state_dir=tmp_path, ports=ports, model_name="Air").api_env()
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5123"
    assert (env["MODEL_NAME"], env["MODEL_ALIAS"], env["PORT"]) == ("Air", "prod", "8123")


def test_demo_points_at_the_api_and_draws_the_served_versions_own_history(tmp_path: Path) -> None:
    ports = {**DEFAULT_PORTS, "api": 8123}
    env = LocalConfig(state_dir=tmp_path, ports=ports, data_uri="/data/s.csv").demo_env()
    assert env["API_URL"] == "http://127.0.0.1:8123"
    assert "DEMO_HISTORY" not in env  # not the first training's data: @prod may move


def test_token_reaches_api_and_demo_only_when_set(tmp_path: Path) -> None:
    plain = LocalConfig(state_dir=tmp_path)
    secured = LocalConfig(state_dir=tmp_path, api_token=TOKEN)
    assert "API_TOKEN" not in plain.api_env() and "API_TOKEN" not in plain.demo_env()
    assert secured.api_env()["API_TOKEN"] == secured.demo_env()["API_TOKEN"] == TOKEN


def test_port_zero_becomes_a_distinct_free_port(tmp_path: Path) -> None:
    cfg = LocalConfig(state_dir=tmp_path, ports=dict.fromkeys(DEFAULT_PORTS, 0)).resolved()
    assert all(port > 0 for port in cfg.ports.values())
    assert len(set(cfg.ports.values())) == len(DEFAULT_PORTS)


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "series.csv").write_text("ds,y\n")
    cfg = LocalConfig(state_dir=Path(".mlstack"), data_uri="series.csv").resolved()
    assert cfg.state_dir == tmp_path / ".mlstack"
    assert cfg.data_uri == str(tmp_path / "series.csv")


def test_each_service_gets_its_own_mlflow_identity_and_the_demo_none(tmp_path: Path) -> None:
    cfg = LocalConfig(state_dir=tmp_path)
    made = cfg.credentials
    trainer, api, tracking = cfg.trainer_env(), cfg.api_env(), cfg.tracking_env()
    assert (trainer[CLIENT_USERNAME_ENV], trainer[CLIENT_PASSWORD_ENV]) == (
        WRITER,
        made.writer_password,
    )
    assert (api[CLIENT_USERNAME_ENV], api[CLIENT_PASSWORD_ENV]) == (READER, made.reader_password)
    assert CLIENT_PASSWORD_ENV not in cfg.demo_env()
    assert tracking[ADMIN_PASSWORD_ENV] == made.admin_password
    assert tracking[READER_MODEL_ENV] == cfg.model_name


def test_credentials_are_made_once_readable_by_their_owner_only(tmp_path: Path) -> None:
    first = LocalConfig(state_dir=tmp_path).credentials
    assert stat.S_IMODE(credentials.path(tmp_path).stat().st_mode) == 0o600
    assert LocalConfig(state_dir=tmp_path).credentials == first
    assert len({first.admin_password, first.writer_password, first.reader_password}) == 3


def test_credentials_others_could_read_are_refused(tmp_path: Path) -> None:
    credentials.load_or_create(tmp_path)
    credentials.path(tmp_path).chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        LocalConfig(state_dir=tmp_path).tracking_env()
