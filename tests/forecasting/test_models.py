import numpy as np
import pytest

from services.forecasting import backtest
from services.forecasting.data import load_series
from services.forecasting.forecaster import Forecaster
from services.forecasting.models import Spec, fit, from_state
from services.forecasting.search import drift
from services.forecasting.selection import candidates, select
from tests.conftest import AIRLINE

AIR = load_series(str(AIRLINE))
SPECS = [
    Spec("seasonal_naive"),
    Spec("ets", log=True, trend="add", damped=True, seasonal="add"),
    Spec("arima", log=True, order=(0, 1, 1), seasonal_order=(0, 1, 1, 12), trend="n"),
    Spec("theta", log=True),
    Spec("combo", members=(Spec("theta"), Spec("ets", trend="add", seasonal="add"))),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
def test_every_family_forecasts_ordered_intervals_and_round_trips_through_json(spec):
    fitted = fit(spec, AIR.y, 12)
    fc = fitted.forecast(18, 0.9)
    assert fc.mean.shape == (18,)
    assert np.all(fc.lower <= fc.mean) and np.all(fc.mean <= fc.upper)
    rebuilt = from_state(Spec.from_json(spec.to_json()), fitted.state())
    np.testing.assert_allclose(rebuilt.forecast(18, 0.9).mean, fc.mean, rtol=1e-8)


def test_wider_level_gives_wider_intervals():
    fitted = fit(SPECS[1], AIR.y, 12)
    narrow, wide = fitted.forecast(12, 0.5), fitted.forecast(12, 0.99)
    assert np.all(wide.upper - wide.lower > narrow.upper - narrow.lower)


def test_forecaster_dates_continue_the_calendar():
    forecaster = Forecaster(fit(Spec("seasonal_naive"), AIR.y, 12), AIR.frequency, AIR.ds[-1])
    frame = Forecaster.from_json(forecaster.to_json()).forecast(3)
    assert list(frame["ds"]) == ["1961-01-01", "1961-02-01", "1961-03-01"]
    assert list(frame["yhat"]) == [417.0, 391.0, 419.0]  # the last season of the series


def test_folds_are_non_overlapping_windows_at_the_end():
    folds = backtest.make_folds(144, 12, 12)
    assert folds.origins == (108, 120, 132) and folds.horizon == 12


def test_window_is_capped_unless_the_horizon_needs_more_for_its_three_folds():
    assert backtest.window(10_000, 12, 12, 2000) == 2000
    assert backtest.window(10_000, 1000, 5, 2000) == 4000
    assert backtest.window(3000, 1000, 5, 2000) == 3000
    for horizon, m in ((1000, 5), (24, 12), (3, 52)):
        points = backtest.window(10_000, horizon, m, 50)
        assert len(backtest.make_folds(points, horizon, m).origins) == 3


def test_selection_on_airline_beats_the_seasonal_naive_floor():
    selection = select(AIR.y, 12, 12, families=("seasonal_naive", "ets", "theta", "combo"))
    naive = next(b for b in selection.backtests if b.spec.family == "seasonal_naive")
    assert selection.best.smape < naive.smape
    assert selection.best.smape == min(b.smape for b in selection.backtests)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown model families"):
        select(AIR.y, 12, 12, families=("prophet",))


def test_arima_is_searched_on_the_scale_of_the_best_exponential_smoothing_model():
    selection = select(AIR.y, 12, 12, families=("ets", "arima"))
    ets = min((b for b in selection.backtests if b.spec.family == "ets"), key=lambda b: b.smape)
    searched = [
        b for b in selection.backtests
        if b.spec.family == "arima" and b.spec not in (drift(False), drift(True))
    ]  # fmt: skip
    assert len(searched) == 1 and searched[0].spec.log == ets.spec.log


def test_arima_orders_are_searched_on_the_whole_window_not_only_before_the_first_fold():
    # With 3 folds of 55 months, only 34 months precede the first fold: too few for a seasonal
    # search (3 seasons). On the whole window the search finds airline's seasonal difference.
    selection = select(AIR.y, 12, 55, families=("arima",))
    assert selection.folds.origins[0] < 36
    seasonal_order = selection.best.spec.seasonal_order
    assert seasonal_order is not None and seasonal_order[1] == 1 and seasonal_order[3] == 12


def test_random_walk_with_drift_is_a_candidate_on_each_scale():
    assert candidates(AIR.y, 12, ("arima",)) == [drift(False), drift(True)]


def test_exponential_smoothing_candidates_include_seasonal_and_non_seasonal_forms():
    specs = candidates(AIR.y, 12, ("ets",))
    assert {s.seasonal for s in specs} == {None, "add"} and {s.log for s in specs} == {False, True}
    assert all(s.seasonal is None for s in candidates(AIR.y[:20], 12, ("ets",)))
