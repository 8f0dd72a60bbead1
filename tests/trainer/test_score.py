"""`mlstack score` against the real MLflow server: the served version's forecasts scored on the
points that arrived after its training, once each, figures checked by hand."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from services.cli import app
from services.forecasting import forecasters
from services.registry import ClientRegistry, Version
from services.trainer import points
from services.trainer.config import TrainConfig
from services.trainer.promote import Rule, compare, degraded, realised, verdicts
from services.trainer.realised import SCORED, UNKNOWN, WAITING
from services.trainer.run import train
from services.trainer.score import ScoreError, score
from tests.conftest import AIRLINE
from tests.panels import monthly, write

CUT = round(0.8 * 144)  # airline: train on the first 80 %


def config(uri: str, name: str, data: Path, **extra) -> TrainConfig:
    return TrainConfig(
        data_uri=str(data), mlflow_tracking_uri=uri, model_name=name, experiment_name="scoring",
        families=("theta",), **extra,
    )  # fmt: skip


def by_hand(actual, forecast, lower, upper, history, m: int) -> dict[str, float]:
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    h = np.asarray(history, float)
    return {
        "smape": float(np.mean(200 * np.abs(a - f) / (np.abs(a) + np.abs(f)))),
        "mase": float(np.mean(np.abs(a - f)) / np.mean(np.abs(h[m:] - h[:-m]))),
        "coverage": float(np.mean((a >= np.asarray(lower)) & (a <= np.asarray(upper)))),
    }


@pytest.fixture
def airline() -> pd.DataFrame:
    return pd.read_csv(AIRLINE)


def test_the_served_version_is_scored_on_new_points_once_each(
    tracking_uri, model_name, airline, tmp_path
):
    airline.iloc[:CUT].to_csv(tmp_path / "first.csv", index=False)
    trained = train(config(tracking_uri, model_name, tmp_path / "first.csv"))
    client = MlflowClient(tracking_uri)
    # Six new months arrive: each is scored against what the version forecast for it.
    airline.iloc[: CUT + 6].to_csv(tmp_path / "grown.csv", index=False)
    cfg = config(tracking_uri, model_name, tmp_path / "grown.csv")
    summary = score(cfg, client)
    model = client.get_model_version(model_name, trained.version)
    forecast = _forecast_of(client, model_name, trained.version, 12)
    actual = airline["y"].iloc[CUT : CUT + 6].to_numpy()
    expected = by_hand(
        actual, forecast["yhat"][:6], forecast["yhat_lower"][:6], forecast["yhat_upper"][:6],
        airline["y"].iloc[:CUT], 12,
    )  # fmt: skip
    assert (summary.status, summary.new_points, summary.points, summary.series) == (SCORED, 6, 6, 1)
    assert summary.realised_smape == pytest.approx(expected["smape"], rel=1e-5)
    assert summary.realised_mase == pytest.approx(expected["mase"], rel=1e-5)
    assert summary.realised_coverage == pytest.approx(expected["coverage"])
    tags = model.tags
    assert float(tags["realised_smape"]) == pytest.approx(expected["smape"], rel=1e-5)
    assert float(tags["realised_mase"]) == pytest.approx(expected["mase"], rel=1e-5)
    assert tags["realised_points"] == "6" and tags["realised_series"] == "1"
    assert float(tags["backtest_smape"]) == pytest.approx(trained.smape, rel=1e-5)
    assert tags["interval_level"] == "0.95" and int(tags["scored_at"]) > 0
    assert summary.restated == 0

    # Again with the same data: nothing new, nothing written.
    history = client.get_metric_history(trained.run_id, "realised_smape")
    again = score(cfg, client)
    assert (again.status, again.new_points, again.points) == (WAITING, 0, 6)
    assert client.get_model_version(model_name, trained.version).tags == tags
    assert client.get_metric_history(trained.run_id, "realised_smape") == history

    # Four more months: only those are added; the figures cover all ten.
    airline.iloc[: CUT + 10].to_csv(tmp_path / "later.csv", index=False)
    later = score(config(tracking_uri, model_name, tmp_path / "later.csv"), client)
    actual = airline["y"].iloc[CUT : CUT + 10].to_numpy()
    expected = by_hand(
        actual, forecast["yhat"][:10], forecast["yhat_lower"][:10],
        forecast["yhat_upper"][:10], airline["y"].iloc[:CUT], 12,
    )  # fmt: skip
    assert (later.new_points, later.points) == (4, 10)
    assert later.realised_smape == pytest.approx(expected["smape"], rel=1e-5)
    ledger = points.read(client, trained.run_id, points.LEDGER)
    assert ledger is not None and list(ledger["step"]) == list(range(1, 11))
    assert len(client.get_metric_history(trained.run_id, "realised_smape")) == 2


def _forecast_of(client: MlflowClient, name: str, version: str, h: int) -> pd.DataFrame:
    """What the version forecasts from its training end."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = ClientRegistry(client).download(name, version, Path(tmp))
        (model,) = forecasters.load(folder).values()
    return model.forecast(h)


def test_a_panel_reports_unknown_waiting_and_restated_series(tracking_uri, model_name, tmp_path):
    rng = np.random.default_rng(0)
    values = {uid: 100 + np.cumsum(rng.normal(1, 2, 40)) for uid in ("a", "b", "c")}
    trained_on = pd.concat([monthly(uid, v[:30]) for uid, v in values.items()])
    write(trained_on, tmp_path / "panel.csv")
    train(config(tracking_uri, model_name, tmp_path / "panel.csv"))
    restated = values["c"].copy()
    restated[5] += 50  # a month the version was trained on, now changed
    grown = pd.concat(
        [
            monthly("a", values["a"][:34]),  # four new months
            monthly("b", values["b"][:30]),  # none yet
            monthly("c", restated[:32]),
            monthly("d", values["a"]),  # a series the version does not know
        ]
    )
    write(grown, tmp_path / "grown.csv")
    summary = score(config(tracking_uri, model_name, tmp_path / "grown.csv"), MlflowClient())
    assert (summary.status, summary.new_points, summary.series) == (SCORED, 6, 2)
    assert (summary.unknown, summary.restated) == (1, 1)
    version = MlflowClient().get_model_version_by_alias(model_name, "prod")
    with tempfile.TemporaryDirectory() as tmp:
        path = MlflowClient().download_artifacts(version.run_id, points.SERIES, tmp)
        rows = {r["unique_id"]: r for r in json.loads(Path(path).read_text())}
    assert rows["d"]["status"] == UNKNOWN and rows["b"]["status"] == WAITING
    assert rows["c"]["restated"] == "2000-06-01" and rows["a"]["restated"] == ""
    assert rows["a"]["points"] == 4 and rows["c"]["points"] == 2


def test_score_needs_a_served_version(tracking_uri, model_name):
    with pytest.raises(ScoreError, match=f"{model_name}@prod is not set"):
        score(config(tracking_uri, model_name, AIRLINE), MlflowClient())


def test_the_command_names_bad_data_and_exits_1(tracking_uri, model_name, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("when,value\n2020-01-01,1\n")
    result = CliRunner().invoke(app, ["score", "--data", str(bad), "--model-name", model_name])
    assert result.exit_code == 1
    assert "missing column(s) 'ds', 'y'" in result.output


def scored_champion(realised: float, backtest: float) -> Version:
    return Version(
        "m", "1", "run", {"realised_smape": str(realised), "backtest_smape": str(backtest)}
    )


def one_series(ours: float, champion: Version, theirs: float, ties: str = ""):
    """The rule's decision for a version of one series against `champion`."""
    rule = Rule()
    return compare(verdicts({"y": ours}, {"y"}, {"y": theirs}, rule), champion, rule, ties)


def test_a_tie_beats_a_degraded_champion_only_when_asked():
    worn, fine = scored_champion(30.0, 10.0), scored_champion(12.0, 10.0)
    assert not one_series(10.0, worn, 10.0).promoted  # strictly lower is the rule
    assert not one_series(10.0, fine, 10.0, degraded(fine, 1.5)).promoted  # 12 is not > 15
    tie = one_series(10.0, worn, 10.0, degraded(worn, 1.5))
    assert tie.promoted and "a tie wins: champion's realised smape 30.0000 > 1.5 x" in tie.reason
    assert not one_series(10.5, worn, 10.0, degraded(worn, 1.5)).promoted  # worse still loses
    assert degraded(worn, None) == "" and degraded(Version("m", "1", "run"), 1.5) == ""
    assert realised(worn) == {"champion_realised_smape": "30.0", "champion_backtest_smape": "10.0"}


def test_training_scores_the_served_version_first_and_promotes_a_tie_over_a_degraded_one(
    tracking_uri, model_name, airline, tmp_path
):
    airline.iloc[:CUT].to_csv(tmp_path / "first.csv", index=False)
    first = train(config(tracking_uri, model_name, tmp_path / "first.csv"))
    client = MlflowClient(tracking_uri)
    # Six months arrive that the champion forecast badly (demand halved), and the same model is
    # trained on the grown data: one spec on the same folds, so the two tie.
    grown = airline.iloc[: CUT + 6].copy()
    grown.loc[CUT:, "y"] //= 2
    grown.to_csv(tmp_path / "grown.csv", index=False)
    cfg = config(tracking_uri, model_name, tmp_path / "grown.csv", promote_if_degraded=True)
    same = train(cfg)

    # Training scored the champion on those six months, as scoring them by hand does ...
    forecast = _forecast_of(client, model_name, first.version, 6)
    expected = by_hand(
        grown["y"].iloc[CUT:], forecast["yhat"], forecast["yhat_lower"], forecast["yhat_upper"],
        airline["y"].iloc[:CUT], 12,
    )  # fmt: skip
    champion = client.get_model_version(model_name, first.version).tags
    assert float(champion["realised_smape"]) == pytest.approx(expected["smape"], rel=1e-5)
    assert champion["realised_points"] == "6"
    assert float(champion["realised_smape"]) > 1.5 * float(champion["backtest_smape"])
    # ... before deciding: the decision read those tags, and a tie won because of them.
    assert same.promoted and same.champion_version == first.version, same.reason
    assert same.smape == pytest.approx(same.champion_smape, rel=1e-5)  # a tie
    assert f"a tie wins: champion's realised smape {expected['smape']:.4f}" in same.reason
    tags = client.get_model_version(model_name, same.version).tags
    assert tags["champion_realised_smape"] == champion["realised_smape"]
    assert tags["champion_backtest_smape"] == champion["backtest_smape"]
