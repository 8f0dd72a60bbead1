"""Promotion and rollback on evidence against the real MLflow server: under PROMOTION=realised
`mlstack score` moves @prod to a challenger once the paired test on enough shared points says
it is better, never to a worse one, and back to the previous champion when the version that
replaced it does worse; under PROMOTION=backtest it moves nothing, as before."""

from dataclasses import replace

import pandas as pd
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from services.cli import app
from services.registry import Version
from services.serving.metrics import accuracy_of
from services.trainer.config import TrainConfig
from services.trainer.evidence import evidence, verdict
from services.trainer.promote import Decision, held
from services.trainer.run import train
from services.trainer.score import score
from services.trainer.shadow import CHALLENGER, PREVIOUS, Standing
from tests.conftest import AIRLINE
from tests.panels import config, m3_monthly, write

CUT = round(0.8 * 144)
REALISED = {"promotion": "realised", "min_realised_points": 12}


def served(uri: str, name: str) -> str:
    return MlflowClient(uri).get_model_version_by_alias(name, "prod").version


def tags(uri: str, name: str, version: str) -> dict[str, str]:
    return MlflowClient(uri).get_model_version(name, version).tags


def arrived(tmp_path, months: int):
    """The airline series up to CUT plus `months` that arrived since."""
    return write(pd.read_csv(AIRLINE).iloc[: CUT + months], tmp_path / f"arrived-{months}.csv")


def broken(tmp_path):
    """The airline series up to CUT from a broken extract: the last 40 % of it in other units.
    The guards let it pass (most dates agree); a model of it forecasts far too low."""
    frame = pd.read_csv(AIRLINE).iloc[:CUT]
    frame.loc[frame.index[-round(0.4 * CUT) :], "y"] *= 0.7
    return write(frame, tmp_path / "broken.csv")


def explained(uri: str, name: str, **settings: str) -> str:
    env = {"MLFLOW_TRACKING_URI": uri, "MODEL_NAME": name} | {
        k.upper(): str(v) for k, v in settings.items()
    }
    result = CliRunner().invoke(app, ["promote", "--explain"], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_clearly_better_challenger_takes_prod_on_evidence_once_it_has_enough_points(
    tracking_uri, model_name, tmp_path
):
    naive = train(config(tracking_uri, model_name, broken(tmp_path)))  # worse on purpose
    theta = train(config(tracking_uri, model_name, arrived(tmp_path, 0), **REALISED))
    # Under `realised` a backtest alone does not move @prod.
    assert naive.promoted and not theta.promoted
    assert tags(tracking_uri, model_name, theta.version)["guards"] == "none"
    assert served(tracking_uri, model_name) == naive.version

    six = score(config(tracking_uri, model_name, arrived(tmp_path, 6), **REALISED), MlflowClient())
    assert six.move is None and served(tracking_uri, model_name) == naive.version
    assert "fewer than MIN_REALISED_POINTS=12" in explained(tracking_uri, model_name, **REALISED)

    # Twelve points, scored under `backtest`: the evidence is there, and nothing moves.
    twelve = arrived(tmp_path, 12)
    kept = score(config(tracking_uri, model_name, twelve), MlflowClient())
    assert kept.move is None and served(tracking_uri, model_name) == naive.version
    standing = tags(tracking_uri, model_name, theta.version)
    assert standing["shadow_points"] == "12" and float(standing["shadow_pvalue_better"]) < 0.05
    assert "kept out: PROMOTION=backtest" in explained(tracking_uri, model_name)
    # The champion carries its challengers' standing in brief, which the API exports.
    exported = accuracy_of(tags(tracking_uri, model_name, naive.version))
    assert exported["model_challengers_better"] == exported["model_challengers_kept_out"] == 1
    assert exported["model_best_challenger_smape"] == float(standing["shadow_smape"])
    assert "takes the alias at the next" in explained(tracking_uri, model_name, **REALISED)

    moved = score(config(tracking_uri, model_name, twelve, **REALISED), MlflowClient())
    assert moved.move is not None and moved.move["to"] == theta.version
    assert served(tracking_uri, model_name) == theta.version
    record = tags(tracking_uri, model_name, theta.version)
    assert (record["prod_move"], record["previous_champion"]) == ("realised", naive.version)
    assert "12 shared point(s)" in record["prod_move_reason"]
    assert f"v{naive.version} (previous champion)" in explained(tracking_uri, model_name)


def test_a_seasonal_naive_challenger_is_never_promoted(tracking_uri, model_name, tmp_path):
    first = arrived(tmp_path, 0)
    champion = train(config(tracking_uri, model_name, first, **REALISED))
    naive = train(config(tracking_uri, model_name, first, families=("seasonal_naive",), **REALISED))
    assert champion.promoted and not naive.promoted
    for months in (4, 8, 12):
        found = score(
            config(tracking_uri, model_name, arrived(tmp_path, months), **REALISED), MlflowClient()
        )
        assert found.move is None and served(tracking_uri, model_name) == champion.version
    assert tags(tracking_uri, model_name, naive.version)["shadow_points"] == "12"
    assert "not better at 0.05; stays out" in explained(tracking_uri, model_name, **REALISED)


def test_a_promoted_version_made_worse_on_purpose_is_rolled_back(
    tracking_uri, model_name, tmp_path
):
    first = arrived(tmp_path, 0)
    naive = train(config(tracking_uri, model_name, first, families=("seasonal_naive",)))
    # Trained on a broken extract, it wins its backtest there, and takes @prod under `backtest`.
    worse = train(config(tracking_uri, model_name, broken(tmp_path)))
    assert worse.promoted and served(tracking_uri, model_name) == worse.version
    assert tags(tracking_uri, model_name, worse.version)["previous_champion"] == naive.version

    twelve = arrived(tmp_path, 12)
    rolled = score(config(tracking_uri, model_name, twelve, **REALISED), MlflowClient())
    assert rolled.move is not None and rolled.move["move"] == "rollback"
    assert served(tracking_uri, model_name) == naive.version
    gone = tags(tracking_uri, model_name, worse.version)
    assert (gone["rolled_back"], gone["rolled_back_to"]) == ("true", naive.version)
    assert tags(tracking_uri, model_name, naive.version)["prod_move"] == "rollback"
    # Scored again, the rolled-back version (now a challenger) is better on nothing, and stays out.
    again = score(config(tracking_uri, model_name, twelve, **REALISED), MlflowClient())
    assert again.move is None and served(tracking_uri, model_name) == naive.version
    line = explained(tracking_uri, model_name, **REALISED).splitlines()[1]
    assert line.startswith(f"v{worse.version} (challenger)") and line.endswith("stays out")

    # Served by hand, it stays: a deliberate choice is recorded, and not rolled back on evidence.
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "MODEL_NAME": model_name}
    by_hand = CliRunner().invoke(app, ["promote", "--to", worse.version], env=env)
    assert by_hand.exit_code == 0, by_hand.output
    assert served(tracking_uri, model_name) == worse.version
    record = tags(tracking_uri, model_name, worse.version)
    assert (record["prod_move"], record["previous_champion"]) == ("by hand", naive.version)
    kept = score(config(tracking_uri, model_name, twelve, **REALISED), MlflowClient())
    assert kept.move is None and served(tracking_uri, model_name) == worse.version
    assert "served by hand: not rolled back" in explained(tracking_uri, model_name, **REALISED)

    # With nothing served, `--to` serves the version, recorded the same way.
    MlflowClient(tracking_uri).delete_registered_model_alias(model_name, "prod")
    first = CliRunner().invoke(app, ["promote", "--to", naive.version], env=env)
    assert first.exit_code == 0, first.output
    assert served(tracking_uri, model_name) == naive.version
    assert tags(tracking_uri, model_name, naive.version)["prod_move"] == "by hand"


# The rules on their own (no MLflow): what the evidence says, and what each policy does with it.
STANDING = Standing("1", 10.0, 20.0, 12, 1, "wilcoxon over points", 0.0005, 0.00025)
PASSED = {"guards": "none", "backtest": "won"}


def rules(**settings) -> TrainConfig:
    return TrainConfig(**{"min_realised_points": 12, **settings})


def challenger(**tags: str) -> Version:
    return Version("m", "2", "run", {**PASSED, **tags})


def test_a_standing_reads_back_from_the_tags_it_writes():
    assert Standing.from_tags(STANDING.tags()) == STANDING
    assert Standing.from_tags({"shadow_smape": "1.0"}) is None  # an older form: no evidence


def test_evidence_needs_enough_shared_points_and_significance():
    cfg = rules(promotion="realised")
    assert evidence(cfg, STANDING, "1")[0]
    assert not evidence(cfg, replace(STANDING, points=11), "1")[0]
    assert not evidence(cfg, replace(STANDING, pvalue_better=0.05), "1")[0]
    assert not evidence(cfg, STANDING, "3")[0]  # against another champion: none yet
    assert not evidence(cfg, None, "1")[0]


def test_each_policy_lets_through_only_what_it_names():
    champion = Version("m", "1", "run", {})
    moves = {
        policy: verdict(
            rules(promotion=policy), challenger(backtest="lost"), CHALLENGER, STANDING, champion
        ).moves
        for policy in ("backtest", "realised", "both")
    }
    assert moves == {"backtest": False, "realised": True, "both": False}
    realised = rules(promotion="realised")
    for kept in ({"guards": "stale"}, {"rolled_back": "true"}):
        assert not verdict(realised, challenger(**kept), CHALLENGER, STANDING, champion).moves
    assert not verdict(
        rules(promotion="both", promote=False), challenger(), CHALLENGER, STANDING, champion
    ).moves


def test_a_champion_served_on_purpose_is_not_rolled_back():
    realised = rules(promotion="realised")
    previous = Version("m", "1", "run", {})
    for how in ({"replace_served": "true"}, {"prod_move": "by hand"}, {}):
        champion = Version("m", "2", "run", how)
        found = verdict(
            realised, previous, PREVIOUS, replace(STANDING, champion_version="2"), champion
        )
        assert found.moves == (how == {})


def test_under_realised_a_backtest_win_is_held_and_an_override_is_not():
    won = Decision(True, "better", "1", extra={"backtest": "won"})
    assert not held(won, "realised").promoted and held(won, "backtest").promoted
    override = Decision(True, "replaces", "1", extra={"replace_served": "true"})
    assert held(override, "both").promoted


def test_on_a_panel_the_evidence_pairs_series_and_picks_the_better_never_seasonal_naive(
    tracking_uri, model_name, tmp_path
):
    frame = m3_monthly(8, start=900)  # macro series: smooth enough for 16 points to tell
    frame["ds"] = pd.to_datetime(frame["ds"])
    cut = frame.groupby("unique_id")["ds"].transform("max") - pd.DateOffset(months=12)
    history = frame[frame["ds"] <= cut]
    broken = history.copy()  # each series' last 40 % in other units: the champion is worse
    late = broken.groupby("unique_id").cumcount(ascending=False) < 0.4 * broken.groupby(
        "unique_id"
    )["y"].transform("size")
    broken.loc[late, "y"] *= 0.7
    champion = train(
        config(tracking_uri, model_name, write(broken, tmp_path / "broken.csv"), **REALISED)
    )  # the first version takes @prod under any policy
    theta = train(
        config(tracking_uri, model_name, write(history, tmp_path / "history.csv"), **REALISED)
    )
    assert champion.promoted and served(tracking_uri, model_name) == champion.version

    def arrived_months(months: int):
        seen = frame[frame["ds"] <= cut + pd.DateOffset(months=months)]
        return score(
            config(tracking_uri, model_name, write(seen, tmp_path / f"{months}.csv"), **REALISED),
            MlflowClient(),
        )

    one = arrived_months(1)  # 8 shared points: fewer than 12, however good
    assert one.move is None and one.challengers[0]["points"] == 8
    two = arrived_months(2)  # 16 points, paired series against series
    assert two.move is not None and two.move["to"] == theta.version, two.challengers
    assert "16 shared point(s) of 8 series (wilcoxon over series" in two.move["reason"]

    naive = train(
        config(
            tracking_uri,
            model_name,
            write(history, tmp_path / "history.csv"),
            families=("seasonal_naive",),
            **REALISED,
        )
    )
    for months in (2, 6, 12):
        later = arrived_months(months)
        assert later.move is None and served(tracking_uri, model_name) == theta.version
    standing = tags(tracking_uri, model_name, naive.version)
    assert standing["shadow_series"] == "8" and standing["shadow_points"] == "96"


def test_promote_asks_for_one_of_explain_or_to():
    for args in (["promote"], ["promote", "--explain", "--to", "3"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "give one of --explain or --to VERSION" in result.output
