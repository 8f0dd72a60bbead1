import json

import numpy as np
import pytest

from services.forecasting import backtest
from services.forecasting.data import load_series
from services.forecasting.forecaster import Forecaster
from services.forecasting.models import fit, from_state
from services.forecasting.panelfit import select
from services.forecasting.selection import fit_members
from services.forecasting.specs import MEAN, MEDIAN, Spec, default_spec
from tests.conftest import AIRLINE
from tests.forecasting.m3 import sample

AIR = load_series(str(AIRLINE))
STATE_FAMILIES = ("ets", "ces", "theta", "standard_theta", "arima")


def statsforecast_model(family: str, m: int):
    from statsforecast import models

    return {
        "ets": models.AutoETS(season_length=m),
        "ces": models.AutoCES(season_length=m),
        "theta": models.DynamicOptimizedTheta(season_length=m),
        "standard_theta": models.Theta(season_length=m),
        "arima": models.AutoARIMA(season_length=m),
    }[family]


# AutoARIMA's reference fits take about a minute per test: `make test-fast` leaves them out.
SLOW_ARIMA = pytest.param("arima", marks=pytest.mark.slow)


@pytest.mark.parametrize("family", (*STATE_FAMILIES[:-1], SLOW_ARIMA))
def test_served_forecasts_are_statsforecasts_own_from_the_json_state_alone(family):
    # Serving extends the stored final state with NumPy; it must give exactly what statsforecast
    # forecasts, far past the fitted steps, on yearly, quarterly, monthly and other M3 series.
    for series in sample(step=150):
        y, m, h = series.x.astype(float), series.period, 3 * series.h
        reference = statsforecast_model(family, m).forecast(y=y, h=h)
        fitted = fit(Spec(family), y, m, steps=series.h)
        served = from_state(fitted.spec, json.loads(json.dumps(fitted.state()))).forecast(h)
        np.testing.assert_allclose(served.mean, reference["mean"], rtol=1e-9, err_msg=series.sn)


@pytest.mark.parametrize("family", ("ets", "theta", "standard_theta", SLOW_ARIMA))
def test_interval_widths_are_statsforecasts_own_over_the_fitted_steps(family):
    for series in sample(step=150):
        y, m = series.x.astype(float), series.period
        # Over the fitted steps only: statsforecast's ETS widths at a step depend on the whole
        # horizon asked for (its seasonal term uses the last step's).
        reference = statsforecast_model(family, m).forecast(y=y, h=series.h, level=[95])
        served = fit(Spec(family), y, m, steps=series.h).forecast(series.h)
        width = reference["hi-95"] - reference["lo-95"]
        np.testing.assert_allclose(served.upper - served.lower, width, rtol=1e-4)


def test_ces_intervals_are_analytic_one_step_ahead_the_residual_spread():
    # statsforecast simulates CES's intervals by perturbing every past state; ours are the
    # linear innovations model's own: one step ahead exactly its residual standard deviation.
    for series in sample(step=150):
        y, m = series.x.astype(float), series.period
        reference = statsforecast_model("ces", m)
        reference.fit(y)
        fitted = fit(Spec("ces"), y, m, steps=series.h)
        sigma = fitted.sigma  # type: ignore[attr-defined]
        assert sigma[0] == pytest.approx(np.sqrt(reference.model_["sigma2"]), rel=1e-9)
        assert np.all(np.diff(sigma) >= 0)


MODELS = [Spec("seasonal_naive"), *(Spec(f) for f in STATE_FAMILIES), Spec.of(("ets", "theta")),
          default_spec(12)]  # fmt: skip


@pytest.mark.parametrize("spec", MODELS, ids=str)
def test_every_model_forecasts_ordered_intervals_and_round_trips_through_json(spec):
    fitted = fit(spec, AIR.y, 12, steps=12)
    fc = fitted.forecast(30, 0.9)  # past the 12 steps whose widths it keeps
    assert fc.mean.shape == (30,)
    assert np.all(fc.lower <= fc.mean) and np.all(fc.mean <= fc.upper)
    rebuilt = from_state(Spec.from_json(fitted.spec.to_json()), fitted.state())
    np.testing.assert_allclose(rebuilt.forecast(30, 0.9).mean, fc.mean, rtol=1e-12)
    np.testing.assert_allclose(rebuilt.forecast(30, 0.9).upper, fc.upper, rtol=1e-12)


def test_intervals_widen_with_the_level_and_keep_growing_past_the_stored_steps():
    fitted = fit(Spec("ets"), AIR.y, 12, steps=12)
    narrow, wide = fitted.forecast(36, 0.5), fitted.forecast(36, 0.99)
    assert np.all(wide.upper - wide.lower > narrow.upper - narrow.lower)
    width = wide.upper - wide.lower
    assert np.all(np.diff(width[11:]) > 0)


THETAS_ETS_CES = ["ets", "ces", "theta", "standard_theta"]


@pytest.mark.parametrize(
    "m, combination, families, combine",
    [(1, MEAN, [*THETAS_ETS_CES, "arima"], np.mean), (4, MEAN, [*THETAS_ETS_CES, "arima"], np.mean),
     (12, MEDIAN, THETAS_ETS_CES, np.median)],
)  # fmt: skip
def test_the_default_model_combines_its_families_in_the_forms_they_chose(
    m, combination, families, combine
):
    # AutoARIMA joins up to quarterly seasons only (its seasonal search is what costs).
    series = next(s for s in sample(step=50) if s.period == m)
    fitted = fit(default_spec(m), series.x.astype(float), m, steps=series.h)
    assert fitted.spec.family == combination
    assert [member.family for member in fitted.spec.members] == families
    assert all(member.form for member in fitted.spec.members)
    parts = [member.forecast(12) for member in fitted.members]  # type: ignore[attr-defined]
    for bound in ("mean", "lower", "upper"):
        combined = combine([getattr(p, bound) for p in parts], axis=0)
        np.testing.assert_allclose(getattr(fitted.forecast(12), bound), combined)


def test_a_fixed_form_is_refitted_as_that_form():
    chosen = fit(Spec("ets"), AIR.y, 12).spec
    assert fit(chosen, AIR.y[:-24], 12).spec == chosen
    arima = fit(Spec("arima"), AIR.y, 12).spec
    assert fit(arima, AIR.y[:-24], 12).spec == arima


def test_seasonal_naive_is_the_one_family_of_a_list_that_holds_only_it():
    assert Spec.of(("seasonal_naive",)) == Spec("seasonal_naive")
    assert Spec.of(("seasonal_naive", "ets")) == Spec("ets")


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


def test_the_model_on_airline_beats_the_seasonal_naive_floor_in_its_backtest():
    found = select(AIR.y, 12, 12)
    assert found.backtest is not None and found.naive_smape is not None
    assert found.backtest.smape < found.naive_smape
    assert found.fitted.spec.family == MEAN
    members = [b.spec.family for b in found.backtest.members]
    assert members == [f.family for f in found.fitted.spec.members] and len(members) >= 1


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown model families"):
        select(AIR.y, 12, 12, families=("prophet",))


def test_a_series_too_short_to_backtest_is_still_fitted_and_says_so():
    members = fit_members(AIR.y[:7], 1, 6)
    assert any(note.startswith("no validation windows: series of 7") for note in members.notes)
    found = select(AIR.y[:7], 1, 6)
    assert found.backtest is None and found.fitted.spec.family == MEAN
    assert np.all(np.isfinite(found.fitted.forecast(6).mean))


def test_a_series_no_family_can_fit_falls_back_to_seasonal_naive_and_says_so():
    members = fit_members(np.array([3.0, 5.0]), 1, 2, families=("theta",))
    assert any(note.startswith("fallback: seasonal naive") for note in members.notes)
    assert select(np.array([3.0, 5.0]), 1, 2, families=("theta",)).fitted.spec == Spec(
        "seasonal_naive"
    )


def test_a_level_a_hair_below_one_gives_infinite_bounds_not_an_error():
    # 0.5 + level / 2 rounds to 1: the API answers such a level with a 422 naming `level`.
    fc = fit(Spec("theta"), AIR.y, 12).forecast(3, 0.9999999999999999)
    assert np.all(np.isinf(fc.upper)) and np.all(np.isfinite(fc.mean))
