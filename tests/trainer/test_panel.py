"""Many series in one model, against the real MLflow server and the real process pool (and a
real Dask LocalCluster): training, the per-series table and metrics, the one artifact, the
pyfunc, and promotion by the per-series rule."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from services.forecasting import forecasters
from services.forecasting.data import DataError
from services.registry import ClientRegistry
from services.trainer.run import train
from tests.panels import bad_series, config, m3_monthly, monthly, series_table, write


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory) -> Path:
    frame = pd.concat([m3_monthly(24), bad_series()], ignore_index=True)
    return write(frame, tmp_path_factory.mktemp("panel") / "panel.csv")


@pytest.fixture(scope="module")
def trained(mlflow_server, panel_csv):
    """The panel trained once through `mlstack train` (a real process, its stderr kept)."""
    name = f"panel-{os.getpid()}"
    mlstack = os.path.join(os.path.dirname(sys.executable), "mlstack")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server.uri, "EXPERIMENT_NAME": "panels"}
    args = ["--data", str(panel_csv), "--model-name", name, "--families", "theta"]
    result = subprocess.run(
        [mlstack, "train", *args, "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (summary,) = result.stdout.splitlines()  # the summary alone: MLflow's links are not on it
    return name, json.loads(summary), result.stderr


def test_a_panel_trains_in_parallel_registers_one_version_and_takes_prod(mlflow_server, trained):
    name, summary, stderr = trained
    assert (summary["series"], summary["trained"], summary["floor"], summary["excluded"]) == (
        27,
        24,
        2,
        1,
    )
    assert summary["promoted"] and summary["reason"] == "first version: @prod was unset"
    client = MlflowClient(mlflow_server.uri)
    assert client.get_model_version_by_alias(name, "prod").version == summary["version"] == "1"
    assert "fitting in 2 worker process(es)" in stderr
    assert "excluded: series 'too-short'" in stderr and "floor: series 'constant'" in stderr


def test_the_progress_line_counts_in_the_summarys_words(trained):
    _, summary, stderr = trained
    assert "27 series in " in stderr and ": 24 to train, 2 floor, 1 excluded" in stderr
    (last,) = [line for line in stderr.splitlines() if "26/26 series (100%)" in line]
    assert last.endswith(f", {summary['trained']} trained, {summary['floor']} floor, done")


def test_the_user_sees_only_the_projects_lines_and_the_summary(trained):
    """No third-party warning, log line, print or progress bar: stdout is the summary alone, and
    every stderr line is the trainer's own."""
    _, _, stderr = trained
    assert (
        stderr.strip()
        and [line for line in stderr.splitlines() if not line.startswith("[train] ")] == []
    )
    for noise in ("\x1b", "Warning", "debug (", "Downloading artifacts", "registered model"):
        assert noise not in stderr


def test_the_run_logs_the_per_series_table_and_summary_metrics(mlflow_server, trained):
    _, summary, _ = trained
    run = MlflowClient(mlflow_server.uri).get_run(summary["run_id"])
    metrics = run.data.metrics
    table = series_table(mlflow_server.uri, summary["run_id"]).set_index("unique_id")
    scored = table.dropna(subset=["smape"])
    assert metrics["smape"] == pytest.approx(scored["smape"].mean())
    assert summary["smape"] == pytest.approx(metrics["smape"], abs=1e-6)
    assert metrics["smape_median"] == pytest.approx(scored["smape"].median())
    assert metrics["mase_median"] == pytest.approx(scored["mase"].median())
    beats = (scored["smape"] < scored["naive_smape"]).mean()
    assert metrics["beats_naive_share"] == pytest.approx(beats) and 0 < beats < 1
    # theta alone (the families asked for), calibrated: the mean of one member
    assert metrics["series_family_mean"] == 24 and metrics["series_family_seasonal_naive"] == 2
    assert 0 < metrics["fit_seconds"] < run.info.end_time / 1000 - run.info.start_time / 1000
    assert (metrics["series_trained"], metrics["series_floor"], metrics["series_excluded"]) == (
        24,
        2,
        1,
    )
    assert table.loc["too-short", "status"] == "excluded" and table.loc["too-short", "points"] == 0
    assert "too few points" in table.loc["too-short", "reason"]
    assert (
        table.loc["constant", "status"] == "floor" and "constant" in table.loc["constant", "reason"]
    )
    assert "duplicate timestamp(s) at line" in table.loc["duplicated", "reason"]
    assert run.data.params["n_series"] == "27" and run.data.params["frequency"] == "MS"
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == run.data.params["data_fingerprint"]


def test_one_artifact_holds_every_series_and_loads_into_a_mapping(mlflow_server, trained, tmp_path):
    name, _, _ = trained
    folder = ClientRegistry(MlflowClient(mlflow_server.uri)).download(name, "1", tmp_path)
    by_id = forecasters.load(folder)
    assert len(by_id) == 26 and "too-short" not in by_id and "constant" in by_id
    artifact = folder / "artifacts" / "forecasters.jsonl"
    assert artifact.stat().st_size / len(by_id) < 4_000  # a few KB per series at most
    assert list(by_id) == sorted(by_id)


def test_the_pyfunc_answers_any_series_by_unique_id_and_names_what_is_wrong(
    mlflow_server, trained, tmp_path
):
    name, _, _ = trained
    mlflow.set_tracking_uri(mlflow_server.uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}@prod")
    by_id = forecasters.load(
        ClientRegistry(MlflowClient(mlflow_server.uri)).download(name, "1", tmp_path)
    )
    ids = sorted(by_id)[:2]
    frame = model.predict(
        pd.DataFrame({"unique_id": ids, "n_periods": [3, 2], "level": [0.8, None]})
    )
    assert list(frame.columns) == ["unique_id", "ds", "yhat", "yhat_lower", "yhat_upper"]
    assert frame["unique_id"].tolist() == [ids[0]] * 3 + [ids[1]] * 2
    expected = by_id[ids[1]].forecast(2)
    assert frame["yhat"].iloc[3:].tolist() == expected["yhat"].tolist()
    assert frame["ds"].iloc[3:].tolist() == expected["ds"].tolist()
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"unknown unique_id 'nope'.*26"):
        model.predict(pd.DataFrame({"unique_id": ["nope"], "n_periods": [2]}))
    with pytest.raises(mlflow.exceptions.MlflowException, match="26 series: the input needs"):
        model.predict(pd.DataFrame({"n_periods": [2]}))


def test_a_one_series_model_answers_as_before_and_by_its_id(tracking_uri, model_name, tmp_path):
    data = write(monthly("x", list(range(1, 40))).drop(columns="unique_id"), tmp_path / "one.csv")
    summary = train(config(tracking_uri, model_name, data, series_id="store-7"))
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{summary.version}")
    plain = model.predict(pd.DataFrame({"n_periods": [3]}))
    assert list(plain.columns) == ["ds", "yhat", "yhat_lower", "yhat_upper"]
    named = model.predict(pd.DataFrame({"unique_id": ["store-7"], "n_periods": [3]}))
    assert named["unique_id"].tolist() == ["store-7"] * 3
    pd.testing.assert_frame_equal(named.drop(columns="unique_id"), plain)
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"unknown unique_id 'y'.*1 series"):
        model.predict(pd.DataFrame({"unique_id": ["y"], "n_periods": [3]}))


def test_a_panel_no_series_of_which_can_be_trained_fails_its_run(
    tracking_uri, model_name, tmp_path
):
    data = write(pd.concat([monthly("a", [1.0]), monthly("b", [2.0, 3.0])]), tmp_path / "bad.csv")
    client = MlflowClient(tracking_uri)
    with pytest.raises(DataError, match="no series can be trained"):
        train(config(tracking_uri, model_name, data))
    (run,) = client.search_runs(
        [client.get_experiment_by_name("panels").experiment_id],
        filter_string="attributes.status != 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert run.info.status == "FAILED"
    assert client.search_registered_models(f"name='{model_name}'") == []
