"""Shadow scoring against the real MLflow server: `mlstack score` scores the champion and each
challenger registered since it on the same new points, once each, and tags each challenger with
its standing on the points both were scored on, checked by hand."""

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import wilcoxon

from services.trainer import points
from services.trainer.run import train
from services.trainer.score import score
from tests.conftest import AIRLINE
from tests.panels import config, m3_monthly, write

CUT = round(0.8 * 144)


def sape(actual, forecast) -> np.ndarray:
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    return 200 * np.abs(a - f) / (np.abs(a) + np.abs(f))


def ledger(uri: str, run_id: str) -> pd.DataFrame:
    found = points.read(MlflowClient(uri), run_id, points.LEDGER)
    assert found is not None
    return found


def test_a_challenger_kept_out_is_scored_beside_the_champion_on_the_same_points(
    tracking_uri, model_name, tmp_path
):
    airline = pd.read_csv(AIRLINE)
    first = write(airline.iloc[:CUT], tmp_path / "first.csv")
    champion = train(config(tracking_uri, model_name, first))  # theta
    kept_out = train(
        config(tracking_uri, model_name, first, families=("seasonal_naive",), promote=False)
    )
    assert champion.promoted and not kept_out.promoted  # --no-promote: a challenger kept out
    cfg = config(tracking_uri, model_name, write(airline.iloc[: CUT + 6], tmp_path / "six.csv"))
    summary = score(cfg, MlflowClient(tracking_uri))

    (line,) = summary.challengers
    assert (line["version"], line["new_points"], line["points"]) == (kept_out.version, 6, 6)
    ours, theirs = ledger(tracking_uri, kept_out.run_id), ledger(tracking_uri, champion.run_id)
    assert list(ours["ds"]) == list(theirs["ds"]) and len(ours) == 6
    actual = airline["y"].iloc[CUT : CUT + 6].to_numpy()
    assert np.allclose(ours["y"], actual) and np.allclose(theirs["y"], actual)
    mine, champions = sape(actual, ours["yhat"]), sape(actual, theirs["yhat"])
    tags = MlflowClient(tracking_uri).get_model_version(model_name, kept_out.version).tags
    assert float(tags["shadow_smape"]) == pytest.approx(mine.mean(), rel=1e-5)
    assert float(tags["shadow_champion_smape"]) == pytest.approx(champions.mean(), rel=1e-5)
    assert float(tags["shadow_champion_smape"]) == pytest.approx(summary.realised_smape, rel=1e-5)
    assert (tags["shadow_points"], tags["shadow_series"]) == ("6", "1")
    assert tags["shadow_champion_version"] == champion.version
    assert tags["shadow_test"] == "wilcoxon over points"
    assert float(tags["shadow_pvalue"]) == pytest.approx(
        wilcoxon(mine - champions).pvalue, abs=1e-6
    )
    assert float(tags["realised_smape"]) == pytest.approx(mine.mean(), rel=1e-5)  # its own

    # The same data again: nothing new for either, nothing written; four more: only those.
    again = score(cfg, MlflowClient(tracking_uri))
    assert again.challengers[0]["new_points"] == 0 and again.new_points == 0
    assert MlflowClient(tracking_uri).get_model_version(model_name, kept_out.version).tags == tags
    cfg = config(tracking_uri, model_name, write(airline.iloc[: CUT + 10], tmp_path / "ten.csv"))
    later = score(cfg, MlflowClient(tracking_uri))
    assert later.challengers[0]["new_points"] == 4
    tags = MlflowClient(tracking_uri).get_model_version(model_name, kept_out.version).tags
    assert tags["shadow_points"] == "10" and len(ledger(tracking_uri, kept_out.run_id)) == 10


def test_a_panel_challenger_is_paired_series_against_series(tracking_uri, model_name, tmp_path):
    frame = m3_monthly(8)
    frame["ds"] = pd.to_datetime(frame["ds"])
    last = frame.groupby("unique_id")["ds"].transform("max")
    first = write(frame[frame["ds"] <= last - pd.DateOffset(months=6)], tmp_path / "first.csv")
    champion = train(config(tracking_uri, model_name, first))
    kept_out = train(
        config(tracking_uri, model_name, first, families=("seasonal_naive",), promote=False)
    )
    summary = score(
        config(tracking_uri, model_name, write(frame, tmp_path / "all.csv")), MlflowClient()
    )
    assert summary.points == 48 and summary.challengers[0]["points"] == 48
    ours, theirs = ledger(tracking_uri, kept_out.run_id), ledger(tracking_uri, champion.run_id)
    both = ours.merge(theirs, on=["unique_id", "ds"], suffixes=("", "_c"))
    by_series = both.groupby("unique_id").apply(
        lambda g: sape(g["y"], g["yhat"]).mean() - sape(g["y"], g["yhat_c"]).mean(),
        include_groups=False,
    )
    tags = MlflowClient().get_model_version(model_name, kept_out.version).tags
    assert (tags["shadow_series"], tags["shadow_test"]) == ("8", "wilcoxon over series")
    assert float(tags["shadow_pvalue"]) == pytest.approx(wilcoxon(by_series).pvalue, abs=1e-6)
