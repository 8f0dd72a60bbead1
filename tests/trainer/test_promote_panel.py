"""Promotion by the per-series rule: on hand-made scores (for one series it is "strictly better
on the same folds"), then a real champion and challengers trained on the same panel (real
MLflow server, real process pool)."""

import os

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient

from services.registry import Version
from services.trainer.promote import Rule, compare, verdicts
from services.trainer.run import train
from tests.panels import config, m3_monthly, series_table, write

CHAMPION = Version("m", "3", "run")


RULE = Rule()  # the defaults: at most 10 % of series worse by more than 10 %


def decide(challenger, champion, rule=RULE):
    table = verdicts(challenger, set(champion), champion, rule)
    return compare(table, CHAMPION, rule), table


def test_each_series_is_improved_same_worse_regressed_new_dropped_or_incomparable():
    challenger = {"a": 9.0, "b": 10.0, "c": 10.5, "d": 12.0, "e": 5.0, "g": None}
    champion = {"a": 10.0, "b": 10.0, "c": 10.0, "d": 10.0, "f": 3.0, "g": 4.0}
    _, table = decide(challenger, champion)
    assert dict(zip(table["unique_id"], table["verdict"], strict=True)) == {
        "a": "improved",
        "b": "same",
        "c": "worse",  # 5 % worse: within the 10 % tolerance
        "d": "regressed",  # 20 % worse
        "e": "new",
        "f": "dropped",
        "g": "incomparable",
    }


def test_a_lower_mean_wins_only_while_few_enough_series_regress():
    champion = {str(i): 10.0 for i in range(10)}
    one_regressed = {**{str(i): 8.0 for i in range(9)}, "9": 12.0}  # 10 %: allowed
    decision, _ = decide(one_regressed, champion)
    assert decision.promoted and decision.extra["series_regressed"] == "1"
    assert "1 regressed by more than 10% (10.0%, at most 10% allowed)" in decision.reason
    two_regressed = {**one_regressed, "8": 12.0}  # 20 %, though the mean is still lower
    decision, _ = decide(two_regressed, champion)
    assert not decision.promoted and decision.tags()["challenger_smape"] == "8.800000"
    decision, _ = decide(two_regressed, champion, Rule(max_regressed=0.2))
    assert decision.promoted


def test_an_equal_mean_is_not_better_and_nothing_in_common_is_not_comparable():
    decision, _ = decide({"a": 9.0, "b": 11.0}, {"a": 10.0, "b": 10.0})
    assert not decision.promoted and "mean smape 10.0000 >= champion v3 10.0000" in decision.reason
    decision, _ = decide({"new": 1.0}, {"old": 10.0})
    assert not decision.promoted and "1 new, 1 dropped" in decision.reason
    assert "not comparable" in decision.reason


RULES = [Rule(), Rule(max_regressed=0.0, tolerance=0.0), Rule(max_regressed=1.0, tolerance=5.0)]


@given(
    ours=st.one_of(st.none(), st.floats(0, 200)),
    theirs=st.one_of(st.none(), st.floats(0, 200)),
    rule=st.sampled_from(RULES),
)
def test_for_one_series_the_rule_is_strictly_better_on_the_same_folds(ours, theirs, rule):
    decision, _ = decide({"y": ours}, {"y": theirs}, rule)
    comparable = ours is not None and theirs is not None
    assert decision.promoted == (comparable and ours < theirs)
    if comparable:
        assert (decision.challenger_smape, decision.champion_smape) == (ours, theirs)
        assert "over 1 series on the same folds" in decision.reason
    else:
        assert "not comparable" in decision.reason


@pytest.fixture(scope="module")
def champion(mlflow_server, tmp_path_factory):
    """Seasonal naive on 20 real series holds @prod."""
    folder = tmp_path_factory.mktemp("promote")
    frame = m3_monthly(21)
    ids = sorted(frame["unique_id"].unique())
    data = write(frame[frame["unique_id"] != ids[-1]], folder / "champion.csv")
    # The challengers' data: one series dropped, one new, the same points for the others.
    changed = write(frame[frame["unique_id"] != ids[0]], folder / "challenger.csv")
    name = f"promote-panel-{os.getpid()}"
    first = train(config(mlflow_server.uri, name, data, families=("seasonal_naive",)))
    assert first.promoted
    return name, first, changed, ids


def test_a_challenger_some_of_whose_series_got_worse_is_judged_per_series(mlflow_server, champion):
    name, first, changed, ids = champion
    client = MlflowClient(mlflow_server.uri)
    strict = train(
        config(mlflow_server.uri, name, changed, max_regressed=0.0, regression_tolerance=0.0)
    )
    table = series_table(mlflow_server.uri, strict.run_id, "promotion.json").set_index("unique_id")
    compared = table[table["verdict"].isin(["improved", "same", "worse", "regressed"])]
    assert (table["verdict"] == "improved").any() and (table["verdict"] == "regressed").any()
    assert table.loc[ids[0], "verdict"] == "dropped" and table.loc[ids[-1], "verdict"] == "new"
    assert len(compared) == 19
    # Some series regressed and none may: rejected, @prod stays, whatever the mean.
    assert not strict.promoted
    assert client.get_model_version_by_alias(name, "prod").version == first.version
    tags = client.get_model_version(name, strict.version).tags
    assert tags["decision"] == "rejected" and tags["champion_version"] == first.version
    assert (tags["series_new"], tags["series_dropped"], tags["series_compared"]) == ("1", "1", "19")
    assert int(tags["series_regressed"]) == (table["verdict"] == "regressed").sum()
    assert float(tags["challenger_smape"]) == pytest.approx(compared["smape"].mean(), abs=1e-5)
    assert float(tags["champion_smape"]) == pytest.approx(
        compared["champion_smape"].mean(), abs=1e-5
    )
    # The champion's spec refitted on the same folds scores what the champion scored itself.
    champion_table = series_table(mlflow_server.uri, first.run_id).set_index("unique_id")
    pd.testing.assert_series_equal(
        compared["champion_smape"],
        champion_table.loc[compared.index, "smape"],
        check_names=False,
        atol=1e-9,
    )


def test_a_challenger_with_a_lower_mean_takes_prod_when_its_regressions_are_allowed(
    mlflow_server, champion
):
    name, _, changed, _ = champion
    client = MlflowClient(mlflow_server.uri)
    lenient = train(config(mlflow_server.uri, name, changed, max_regressed=1.0))
    tags = client.get_model_version(name, lenient.version).tags
    assert float(tags["challenger_smape"]) < float(tags["champion_smape"])
    assert lenient.promoted and tags["decision"] == "promoted"
    assert client.get_model_version_by_alias(name, "prod").version == lenient.version
    run = client.get_run(lenient.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["series_compared"] == "19"
