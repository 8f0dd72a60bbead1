"""The trainer against a real MLflow server: logging, registration and promotion."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import mlflow
import pandas as pd
import pytest
from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    MLFLOW_HTTP_REQUEST_TIMEOUT,
)
from mlflow.tracking import MlflowClient
from pydantic import ValidationError

from services.forecasting.specs import Spec
from services.trainer.config import TrainConfig
from services.trainer.run import train
from services.trainer.tracking import MlflowUnavailable, configure_mlflow
from tests.conftest import AIRLINE, ROOT

FAST = ("seasonal_naive", "ets")


def config(uri: str, name: str, **overrides) -> TrainConfig:
    return TrainConfig(
        mlflow_tracking_uri=uri,
        model_name=name,
        experiment_name="tests",
        **{"families": FAST, **overrides},
    )


@pytest.fixture(scope="module")
def champion(mlflow_server):
    """One model trained with ETS and promoted, shared by the tests that only read it."""
    name = f"champion-{os.getpid()}"
    summary = train(config(mlflow_server.uri, name))
    return name, summary


def test_first_run_registers_a_version_and_takes_prod(mlflow_server, champion):
    name, summary = champion
    client = MlflowClient(mlflow_server.uri)
    assert summary.promoted and summary.reason == "first version: @prod was unset"
    assert client.get_model_version_by_alias(name, "prod").version == summary.version == "1"
    tags = client.get_model_version(name, summary.version).tags
    assert tags["decision"] == "promoted" and float(tags["challenger_smape"]) == pytest.approx(
        summary.smape, abs=1e-5
    )


def test_run_logs_params_metrics_dataset_plot_and_backtest_table(mlflow_server, champion):
    _, summary = champion
    client = MlflowClient(mlflow_server.uri)
    run = client.get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    assert {"smape", "mase", "rmse", "mae", "coverage"} <= set(run.data.metrics)
    assert run.data.params["season_length"] == "12" and run.data.params["frequency"] == "MS"
    # FAST without seasonal naive (the floor, never a member) leaves one family: the calibrated
    # mean of ETS alone.
    assert run.data.params["families"] == ",".join(FAST)
    spec = Spec.from_json(run.data.params["spec"])
    assert run.data.params["family"] == spec.family == "mean"
    assert [m.family for m in spec.members] == ["ets"]
    assert run.data.params["model"] == summary.model and summary.model.startswith("mean[ets(")
    assert run.data.tags["ensemble"] == "families" and run.data.tags["ensemble_members"] == "ets"
    assert run.data.tags["calibrated"] == "36 errors"  # 3 windows of 12 points
    artifacts = {a.path for a in client.list_artifacts(summary.run_id)}
    assert {"forecast.png", "backtest.json", "series.json", "selection.json"} <= artifacts
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == run.data.params["data_fingerprint"]
    assert run.data.tags["fitted_on"] == "this process"  # one series: no pool to start


def test_logged_model_loads_back_and_forecasts_ordered_intervals(mlflow_server, champion):
    name, _ = champion
    mlflow.set_tracking_uri(mlflow_server.uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}@prod")
    frame = model.predict(pd.DataFrame({"n_periods": [7], "level": [0.8]}))
    assert list(frame.columns) == ["ds", "yhat", "yhat_lower", "yhat_upper"]
    assert len(frame) == 7 and frame["ds"].iloc[0] == "1961-01-01"
    assert (frame["yhat_lower"] <= frame["yhat"]).all() and (
        frame["yhat"] <= frame["yhat_upper"]
    ).all()
    assert len(model.predict(pd.DataFrame({"n_periods": [3]}))) == 3  # level is optional


def test_a_worse_model_leaves_prod_where_it_was_with_the_reason_in_tags(mlflow_server, champion):
    name, first = champion
    worse = train(config(mlflow_server.uri, name, families=("seasonal_naive",)))
    client = MlflowClient(mlflow_server.uri)
    assert not worse.promoted
    assert client.get_model_version_by_alias(name, "prod").version == first.version
    tags = client.get_model_version(name, worse.version).tags
    assert tags["decision"] == "rejected" and tags["champion_version"] == first.version
    assert float(tags["challenger_smape"]) >= float(tags["champion_smape"])
    assert f"champion v{first.version}" in tags["reason"] and "same folds" in tags["reason"]


def test_a_better_model_takes_prod_compared_on_the_same_holdout(tracking_uri, model_name):
    naive = train(config(tracking_uri, model_name, families=("seasonal_naive",)))
    better = train(config(tracking_uri, model_name))
    client = MlflowClient(tracking_uri)
    assert (
        better.promoted
        and client.get_model_version_by_alias(model_name, "prod").version == better.version
    )
    tags = client.get_model_version(model_name, better.version).tags
    # The champion's spec refitted on the same folds scores exactly what it scored itself.
    assert float(tags["champion_smape"]) == pytest.approx(naive.smape, abs=1e-5)
    assert float(tags["challenger_smape"]) < float(tags["champion_smape"])


def test_a_long_horizon_widens_the_window_of_recent_points(tracking_uri, model_name):
    summary = train(config(tracking_uri, model_name, max_train_points=50, horizon=24))
    params = MlflowClient(tracking_uri).get_run(summary.run_id).data.params
    assert params["n_points"] == "98" and params["folds"] == "3"  # 3 x 24 + 26 of 144


def test_no_promote_registers_a_version_but_never_moves_prod(tracking_uri, model_name):
    summary = train(config(tracking_uri, model_name, promote=False))
    client = MlflowClient(tracking_uri)
    assert client.get_model_version(model_name, summary.version).tags["decision"] == "rejected"
    assert "--no-promote" in summary.reason
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(model_name, "prod")


def test_unreachable_mlflow_fails_within_the_bounded_timeout(model_name):
    with pytest.raises(MlflowUnavailable, match="unreachable after 1s"):
        train(
            TrainConfig(
                mlflow_tracking_uri="http://127.0.0.1:9",
                model_name=model_name,
                mlflow_timeout_seconds=1,
            )
        )


def test_mlflow_request_limits_come_from_mlflows_variables_and_reach_its_client(monkeypatch):
    for name in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    defaults = TrainConfig()
    assert (defaults.mlflow_http_request_timeout, defaults.mlflow_http_request_max_retries) == (
        30,
        3,
    )
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    cfg = TrainConfig()
    assert (cfg.mlflow_http_request_timeout, cfg.mlflow_http_request_max_retries) == (7, 2)
    with mock.patch.dict(os.environ):
        configure_mlflow(cfg.model_copy(update={"mlflow_http_request_timeout": 9}))
        assert (MLFLOW_HTTP_REQUEST_TIMEOUT.get(), MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()) == (9, 2)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "11")
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        TrainConfig()


def test_a_model_trained_in_a_checkout_carries_no_copy_of_its_uv_lock(
    tracking_uri, model_name, monkeypatch
):
    monkeypatch.chdir(ROOT)  # uv.lock and pyproject.toml: what MLflow would copy
    monkeypatch.delenv("MLFLOW_LOG_UV_FILES", raising=False)
    summary = train(config(tracking_uri, model_name, families=("seasonal_naive",)))
    source = MlflowClient(tracking_uri).get_model_version(model_name, summary.version).source
    files = {Path(a.path).name for a in mlflow.artifacts.list_artifacts(artifact_uri=source)}
    assert "MLmodel" in files and "requirements.txt" in files
    assert not files & {"uv.lock", "pyproject.toml"}


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    mlstack = os.path.join(os.path.dirname(sys.executable), "mlstack")
    return subprocess.run(
        [mlstack, "train", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_reads_env_prints_progress_on_stderr_and_a_json_summary_last(mlflow_server, model_name):
    env = {
        "MLFLOW_TRACKING_URI": mlflow_server.uri,
        "MODEL_NAME": model_name,
        "DATA_URI": str(AIRLINE),
        "FAMILIES": "seasonal_naive",
        "EXPERIMENT_NAME": "tests",
    }
    result = run_cli([], env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (
        summary["promoted"] is True
        and summary["version"] == "1"
        and summary["model"] == "seasonal_naive"
    )
    assert "[train]   y: validation: 3 windows of 12 points" in result.stderr


def test_cli_verbose_shows_third_party_warnings_and_prints_as_debug_lines(
    mlflow_server, model_name
):
    env = {"MLFLOW_TRACKING_URI": mlflow_server.uri, "EXPERIMENT_NAME": "tests"}
    args = ["--model-name", model_name, "--families", "seasonal_naive", "--verbose"]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr
    (summary,) = result.stdout.splitlines()  # MLflow's "View run" links go to the log too
    assert json.loads(summary)["version"] == "1"
    assert "[train] debug (py.warnings): UserWarning: Add type hints" in result.stderr
    assert f"[train] debug (printed): Successfully registered model '{model_name}'." in (
        result.stderr
    )
    assert "\x1b" not in result.stderr and "Downloading artifacts" not in result.stderr


def test_cli_exits_non_zero_with_a_clear_message_on_bad_input(mlflow_server, model_name, tmp_path):
    env = {"MLFLOW_TRACKING_URI": mlflow_server.uri, "EXPERIMENT_NAME": "tests"}
    missing = run_cli(["--data", str(tmp_path / "absent.csv"), "--model-name", model_name], env)
    assert missing.returncode == 1 and "error: data file not found" in missing.stderr
    bad_flag = run_cli(["--families", "prophet", "--model-name", model_name], env)
    assert bad_flag.returncode == 2 and "error: families:" in bad_flag.stderr
    folder = run_cli(["--data", str(tmp_path), "--model-name", model_name], env)
    assert folder.returncode == 1 and f"error: data path {tmp_path} is a directory" in folder.stderr


@pytest.mark.parametrize("store", ["mlruns", "file:///tmp/mlruns"])
def test_a_file_store_tracking_uri_is_refused_in_one_line_naming_the_fix(store, tmp_path):
    result = run_cli(["--data", str(AIRLINE)], {"MLFLOW_TRACKING_URI": store})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: MLFLOW_TRACKING_URI={store} is a file store, which MLflow 3 no longer tracks in: "
        "use a database (sqlite:///path/to/mlflow.db) or a tracking server "
        "(http://host:5000, e.g. `mlstack up`)"
    ]


def test_a_series_too_short_to_backtest_is_trained_registered_and_says_why(mlflow_server, tmp_path):
    data = tmp_path / "short.csv"
    years = pd.date_range("2015-01-01", periods=7, freq="YS")
    pd.DataFrame({"ds": years, "y": [3.0, 4.1, 4.0, 5.2, 5.9, 6.1, 7.3]}).to_csv(data, index=False)
    name = f"short-{os.getpid()}"
    first = train(config(mlflow_server.uri, name, data_uri=str(data), families=("ets", "theta")))
    assert first.promoted and first.smape is None and first.model.startswith("mean[")
    run = MlflowClient(mlflow_server.uri).get_run(first.run_id)
    assert run.data.tags["notes"].startswith("no validation windows: series of 7 points is too")
    assert "smape" not in run.data.metrics
    second = train(config(mlflow_server.uri, name, data_uri=str(data), families=("ets", "theta")))
    assert not second.promoted and "not comparable" in second.reason


def test_each_setting_is_read_from_the_environment_under_its_own_name(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    listed = readme[readme.index("Every setting is read") : readme.index("which has no flag")]
    names = re.findall(r"`([A-Z][A-Z_]+)`", listed)
    assert len(names) >= 20 and not [n for n in names if n.lower() not in TrainConfig.model_fields]
    assert all(f.validation_alias is None for f in TrainConfig.model_fields.values())
    env = {"TRAIN_WORKERS": "3", "model_alias": "staging", "Data_Timeout_Seconds": "5"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = TrainConfig()
    assert (cfg.train_workers, cfg.model_alias, cfg.data_timeout_seconds) == (3, "staging", 5.0)
