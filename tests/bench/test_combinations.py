"""The bench that chose the default model: candidates scored on M3 training data only."""

import numpy as np

from bench import combinations, m3
from services.forecasting import metrics
from services.forecasting.models import fit
from services.forecasting.specs import Spec


def test_candidates_are_scored_on_the_last_horizon_of_the_training_data_not_the_test():
    yearly = m3.series(every=1)[0]
    row = combinations.one(yearly)
    assert set(row) - {"series", "m"} == set(combinations.CANDIDATES)
    train, valid = yearly.x[: -yearly.h].astype(float), yearly.x[-yearly.h :].astype(float)
    parts = [fit(Spec(f), train, 1, steps=yearly.h).forecast(yearly.h).mean
             for f in ("ets", "ces", "theta", "arima")]  # fmt: skip
    scum = np.median(parts, axis=0)
    expected = [metrics.smape(valid, scum), metrics.mase(valid, scum, train, 1)]
    np.testing.assert_allclose(row["SCUM: median(ets, ces, dotm, arima)"], expected)


def test_arima_is_no_candidate_beyond_quarterly_seasons():
    monthly = next(s for s in m3.series(every=10) if s.period == 12)
    row = combinations.one(monthly)
    with_arima = {k for k, (members, _) in combinations.CANDIDATES.items() if "arima" in members}
    assert with_arima and not with_arima & set(row)
    assert "median(ets, ces, dotm, theta)" in row


def test_the_table_ranks_combinations_by_smape_per_season_length():
    text = combinations.render({"season length 1 (2 series)": {"b": [2.0, 1.0], "a": [3.0, 1.0]}})
    title, _, _, first, second = text.splitlines()
    assert title == "season length 1 (2 series)"
    assert first.split()[0] == "b" and second.split()[0] == "a"
