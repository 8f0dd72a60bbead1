"""The promotion replay bench: M3 panels whose holdouts arrive in steps, scored under
PROMOTION=realised against the session's real MLflow server, and its table."""

import pandas as pd

from bench import replay


def test_a_trial_is_eight_monthly_series_with_their_18_month_holdouts_to_replay():
    history, holdout = replay.panel(0)
    assert history["unique_id"].nunique() == holdout["unique_id"].nunique() == replay.SERIES
    assert (holdout.groupby("unique_id").size() == replay.HOLDOUT).all()
    ends = history.groupby("unique_id")["ds"].max() + pd.DateOffset(months=1)
    assert (holdout.groupby("unique_id")["ds"].min() == ends).all()  # the holdout comes next
    assert (replay.broken(history)["y"] == history["y"] * replay.BROKEN_FACTOR).all()


def test_one_trial_promotes_the_better_rolls_back_the_worse_never_seasonal_naive(tracking_uri):
    result = replay.run(tracking_uri, 1)
    summary = result["summary"]
    assert summary["wrong_promotions"] == summary["wrong_rollbacks"] == 0
    assert summary["better_promoted"] == 1 and summary["points_to_promote_max"] is not None
    assert summary["rolled_back"] == summary["worse_took_prod"]
    assert all(target.met for target in result["_targets"])
    assert "points to promote" in replay.replay_table(result)
