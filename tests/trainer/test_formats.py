"""What a registered version holds: new versions are logged from code, one format for any number
of series (`jsonl/1`) and no pickle; a version of one series registered before (`json/1`, a
pickled pyfunc) still loads, and still competes as the champion on the same folds."""

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from services.forecasting import forecasters
from services.forecasting.data import load_series
from services.forecasting.forecaster import FORMAT_KEY, Forecaster
from services.forecasting.panelfit import select
from services.forecasting.pyfunc import SIGNATURE, ForecastModel, _requirements
from services.registry import ClientRegistry
from services.trainer.config import TrainConfig
from services.trainer.run import train
from tests.conftest import AIRLINE


def config(uri: str, name: str, **overrides) -> TrainConfig:
    return TrainConfig(
        mlflow_tracking_uri=uri, model_name=name, experiment_name="formats", **overrides
    )


def log_json1_version(name: str, folder: Path) -> str:
    """A version of the airline series as the trainer logged one series before: the forecaster's
    JSON file without an id (`json/1`) beside a pickled `ForecastModel`, and @prod on it."""
    series = load_series(str(AIRLINE))
    fitted = select(series.y, 12, 12, ("ets",)).fitted
    path = folder / "forecaster.json"
    path.write_text(Forecaster(fitted, series.frequency, series.ds[-1]).to_json())
    with mlflow.start_run(experiment_id=mlflow.set_experiment("formats").experiment_id):
        mlflow.log_params({"spec": fitted.spec.to_json(), "horizon": 12})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ForecastModel(),
            artifacts={forecasters.SINGLE_ARTIFACT: str(path)},
            signature=SIGNATURE,
            pip_requirements=_requirements(),
            metadata={FORMAT_KEY: forecasters.SINGLE_FORMAT},
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(name, "prod", version)
    return version


def test_a_version_is_logged_from_code_and_holds_no_pickle(tracking_uri, model_name, tmp_path):
    summary = train(config(tracking_uri, model_name, families=("seasonal_naive",)))
    folder = ClientRegistry(MlflowClient()).download(model_name, summary.version, tmp_path)
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))], files
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert "python_model" not in flavor and "logged_model.py" in files
    assert list(forecasters.load(folder)) == ["y"]  # one series: the jsonl/1 artifact
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{summary.version}")
    frame = model.predict(pd.DataFrame({"n_periods": [2]}))
    assert frame["ds"].tolist() == ["1961-01-01", "1961-02-01"]


def test_a_json1_version_registered_before_still_loads_and_forecasts(
    tracking_uri, model_name, tmp_path
):
    version = log_json1_version(model_name, tmp_path)
    folder = ClientRegistry(MlflowClient()).download(model_name, version, tmp_path / "model")
    assert any(p.suffix == ".pkl" for p in folder.rglob("*"))  # as it was logged then
    by_id = forecasters.load(folder)
    assert list(by_id) == ["y"]
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@prod")
    frame = model.predict(pd.DataFrame({"n_periods": [3], "level": [0.8]}))
    expected = by_id["y"].forecast(3, 0.8)
    pd.testing.assert_frame_equal(frame, expected)


def test_a_json1_champion_competes_on_the_same_folds(tracking_uri, model_name, tmp_path):
    champion = log_json1_version(model_name, tmp_path)
    # The same family on the same data: the same spec, so the champion refitted on the
    # challenger's folds scores exactly what the challenger scored, a tie that does not win.
    same = train(config(tracking_uri, model_name, data_uri=str(AIRLINE), families=("ets",)))
    tags = MlflowClient().get_model_version(model_name, same.version).tags
    assert not same.promoted and tags["champion_version"] == champion
    assert tags["series_compared"] == "1"
    assert float(tags["champion_smape"]) == pytest.approx(same.smape, abs=1e-6)
    assert MlflowClient().get_model_version_by_alias(model_name, "prod").version == champion
    verdicts = json.loads(
        Path(
            MlflowClient().download_artifacts(same.run_id, "promotion.json", str(tmp_path))
        ).read_text()
    )
    smape = pytest.approx(same.smape, abs=1e-6)
    assert verdicts["data"] == [["y", smape, smape, "same"]]
