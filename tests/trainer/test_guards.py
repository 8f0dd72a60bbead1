"""The guards on what the data is: a stale extract, another frequency or other series than a
one-series champion never take @prod without `--replace-served`, which then replaces what is
served and is tagged. The rules on hand-made points, then real runs (real MLflow server), each
challenger one that would have won on its own folds."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from services.cli import app
from services.trainer.guards import Trained, check
from services.trainer.run import train
from tests.conftest import AIRLINE
from tests.panels import config, m3_monthly, monthly, write

WAVE = 100 + 10 * np.sin(np.arange(48) * 2 * np.pi / 12)


def trained(frame: pd.DataFrame, frequency: str = "MS", season_length: int = 12) -> Trained:
    return Trained(frequency, season_length, frame.assign(ds=pd.to_datetime(frame["ds"])))


def test_a_grown_or_slightly_restated_history_of_the_same_series_passes():
    old = trained(monthly("y", WAVE[:36]))
    restated = WAVE.copy()
    restated[[3, 7]] += 5  # two of 36 shared months changed since
    assert check(trained(monthly("y", restated)), old, "1") == {}


def test_each_guard_names_what_differs():
    old = trained(monthly("y", WAVE[:36]))
    stale = check(trained(monthly("y", WAVE[:24])), old, "1")
    assert stale == {
        "stale": "its data ends 2001-12-01, before champion v1's training data ended 2002-12-01 "
        "(its series): a stale extract"
    }
    other = check(trained(monthly("y", WAVE[::-1])), old, "1")
    assert list(other) == ["series"] and "on 36 of 36 shared dates" in other["series"]
    renamed = check(trained(monthly("sales", WAVE)), old, "1")
    assert renamed == {"series": "it serves series 'sales', champion v1 serves 'y'"}
    weekly = check(trained(monthly("y", WAVE), "W-SUN", 52), old, "1")
    assert weekly == {
        "frequency": "its frequency W-SUN (season length 52) differs from champion v1's MS "
        "(season length 12)"
    }
    panel = check(trained(pd.concat([monthly("y", WAVE), monthly("z", WAVE)])), old, "1")
    assert panel == {
        "series": "a panel of 2 series would replace champion v1, a model of the one series 'y'"
    }


def test_a_panel_is_stale_only_on_the_series_both_know():
    old = trained(pd.concat([monthly("a", WAVE[:24]), monthly("b", WAVE[:36])]))
    dropped_latest = trained(pd.concat([monthly("a", WAVE[:24]), monthly("c", WAVE[:12])]))
    assert check(dropped_latest, old, "4") == {}  # "b" dropped: the per-series rules judge it
    older = trained(pd.concat([monthly("a", WAVE[:20]), monthly("b", WAVE[:30])]))
    assert "the 2 series both know" in check(older, old, "4")["stale"]


@pytest.fixture
def airline() -> pd.DataFrame:
    return pd.read_csv(AIRLINE)


def serve(uri: str, name: str, data) -> str:
    """Seasonal naive on `data` at @prod: its version."""
    first = train(config(uri, name, data, families=("seasonal_naive",)))
    assert first.promoted
    return first.version


def tags_of(uri: str, name: str, version: str) -> dict[str, str]:
    return MlflowClient(uri).get_model_version(name, version).tags


def prod(uri: str, name: str) -> str:
    return MlflowClient(uri).get_model_version_by_alias(name, "prod").version


def test_a_stale_extract_takes_prod_only_with_the_override(
    tracking_uri, model_name, airline, tmp_path
):
    served = serve(tracking_uri, model_name, write(airline, tmp_path / "now.csv"))
    older = write(airline.iloc[:-12], tmp_path / "older.csv")  # a year older
    stale = train(config(tracking_uri, model_name, older))
    assert not stale.promoted and prod(tracking_uri, model_name) == served
    assert (
        f"its data ends 1959-12-01, before champion v{served}'s training data ended 1960-12-01"
        in stale.reason
    )
    assert "pass --replace-served (REPLACE_SERVED=true) to serve it anyway" in stale.reason
    tags = tags_of(tracking_uri, model_name, stale.version)
    assert (tags["decision"], tags["guards"], tags["champion_version"]) == (
        "rejected", "stale", served
    )  # fmt: skip
    assert "replace_served" not in tags and "champion_smape" not in tags  # no score compared

    meant = train(config(tracking_uri, model_name, older, replace_served=True))
    assert meant.promoted and prod(tracking_uri, model_name) == meant.version
    tags = tags_of(tracking_uri, model_name, meant.version)
    assert (tags["guards"], tags["replace_served"]) == ("stale", "true")
    assert tags["reason"].startswith(f"replaces champion v{served} (--replace-served")
    run = MlflowClient(tracking_uri).get_run(meant.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["replace_served"] == "true"


def test_another_frequency_is_never_promoted_over_the_served_one(
    tracking_uri, model_name, airline, tmp_path
):
    served = serve(tracking_uri, model_name, write(airline, tmp_path / "monthly.csv"))
    days = pd.date_range("1961-01-01", periods=120, freq="D")
    trend = 300 + 2.0 * np.arange(120) + np.random.default_rng(0).normal(0, 3, 120)
    daily = pd.DataFrame({"ds": days.strftime("%Y-%m-%d"), "y": trend})  # theta wins here
    other = train(config(tracking_uri, model_name, write(daily, tmp_path / "daily.csv")))
    assert not other.promoted and prod(tracking_uri, model_name) == served
    assert (
        f"its frequency D (season length 7) differs from champion v{served}'s MS (season "
        "length 12)" in other.reason
    )
    assert tags_of(tracking_uri, model_name, other.version)["guards"] == "frequency"


def test_another_series_is_never_promoted_over_a_one_series_model(
    tracking_uri, model_name, airline, tmp_path
):
    served = serve(tracking_uri, model_name, write(airline, tmp_path / "airline.csv"))
    m3 = m3_monthly(1)["y"].to_numpy()
    impostor = airline.iloc[-len(m3) :].assign(y=m3)  # the same id and dates, another history
    under_same_id = train(config(tracking_uri, model_name, write(impostor, tmp_path / "m3.csv")))
    assert not under_same_id.promoted
    assert (
        f"its series 'y' differs from champion v{served}'s training data on {len(m3)} of "
        f"{len(m3)} shared dates: another series under the same id" in under_same_id.reason
    )
    renamed = write(airline.assign(unique_id="passengers"), tmp_path / "renamed.csv")
    other_id = train(config(tracking_uri, model_name, renamed))
    assert not other_id.promoted
    assert f"it serves series 'passengers', champion v{served} serves 'y'" in other_id.reason
    for version in (under_same_id.version, other_id.version):
        assert tags_of(tracking_uri, model_name, version)["guards"] == "series"
    assert prod(tracking_uri, model_name) == served


def test_a_panel_replaces_a_one_series_model_through_the_override(
    tracking_uri, model_name, airline, tmp_path
):
    served = serve(tracking_uri, model_name, write(airline, tmp_path / "airline.csv"))
    others = m3_monthly(2)
    others["ds"] = (pd.to_datetime(others["ds"]) - pd.DateOffset(years=20)).dt.strftime("%Y-%m-%d")
    panel = pd.concat([airline.assign(unique_id="y"), others], ignore_index=True)
    data = str(write(panel, tmp_path / "panel.csv"))
    runner, flags = CliRunner(), ["train", "--data", data, "--model-name", model_name]
    refused = runner.invoke(app, [*flags, "--families", "theta"])
    assert refused.exit_code == 0, refused.output
    summary = json.loads(refused.stdout.strip().splitlines()[-1])
    assert summary["trained"] == 3 and not summary["promoted"]
    assert prod(tracking_uri, model_name) == served
    assert summary["reason"].startswith(
        f"a panel of 3 series would replace champion v{served}, a model of the one series 'y'"
    )
    replaced = runner.invoke(app, [*flags, "--families", "theta", "--replace-served"])
    summary = json.loads(replaced.stdout.strip().splitlines()[-1])
    assert summary["promoted"] and prod(tracking_uri, model_name) == summary["version"]
    tags = tags_of(tracking_uri, model_name, summary["version"])
    assert (tags["guards"], tags["replace_served"]) == ("series", "true")


def test_a_panel_of_other_series_replaces_a_panel_only_with_the_override(
    tracking_uri, model_name, tmp_path
):
    first = m3_monthly(2)
    served = serve(tracking_uri, model_name, write(first, tmp_path / "first.csv"))
    new_source = write(m3_monthly(2, start=2), tmp_path / "second.csv")  # no id in common
    kept = train(config(tracking_uri, model_name, new_source))
    assert not kept.promoted and "not comparable" in kept.reason
    assert tags_of(tracking_uri, model_name, kept.version)["guards"] == "none"
    moved = train(config(tracking_uri, model_name, new_source, replace_served=True))
    assert moved.promoted and prod(tracking_uri, model_name) == moved.version != served
    assert tags_of(tracking_uri, model_name, moved.version)["replace_served"] == "true"
