"""The panel step on synthetic panels: the choice, the calibration and each series' model."""

import numpy as np
import pytest

from services.forecasting.models import Combination, SeasonalNaive
from services.forecasting.panelfit import GlobalMember, finish
from services.forecasting.selection import FLOOR, fit_members
from services.forecasting.specs import GLOBAL

H, M = 6, 4


def seasonal(n, seed, noise=1.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / M) + rng.normal(0, noise, n)


@pytest.fixture(scope="module")
def panel():
    ys = {f"s{i}": seasonal(40 + i, i) for i in range(6)}
    members = {uid: fit_members(y, M, H, ("ets", "theta")) for uid, y in ys.items()}
    return ys, members


def oracle(ys, members, noise=0.0):
    """A global member that knows what came true in every window (and a flat path)."""
    windows = {}
    for uid, y in ys.items():
        for origin in members[uid].folds.origins:
            windows.setdefault(y.size - origin, {})[uid] = y[origin : origin + H] + noise
    return GlobalMember(windows, {uid: np.full(365, y[-1]) for uid, y in ys.items()}, H)


def test_a_global_member_the_windows_favour_joins_every_series_model(panel):
    ys, members = panel
    fit = finish(members, ys, M, oracle(ys, members))
    assert GLOBAL in fit.choice.members
    for series in fit.series.values():
        assert isinstance(series.fitted, Combination)
        assert GLOBAL in [m.spec.family for m in series.fitted.members]
        assert series.backtest is not None and series.naive_smape is not None


def test_a_series_the_global_member_could_not_forecast_gets_the_rest(panel):
    ys, members = panel
    global_member = oracle(ys, members)
    paths = {uid: p for uid, p in global_member.paths.items() if uid != "s0"}
    fit = finish(members, ys, M, GlobalMember(global_member.windows, paths, H))
    families = [m.spec.family for m in fit.series["s0"].fitted.members]
    assert GLOBAL not in families and families


def test_the_interval_is_the_calibrated_multiple_of_the_members_spread(panel):
    ys, members = panel
    fit = finish(members, ys, M)
    assert fit.calibration is not None
    model = fit.series["s1"].fitted
    assert isinstance(model, Combination)
    forecast = model.forecast(H, 0.8)
    half = fit.calibration.quantile(0.8) * model.spread(H)
    np.testing.assert_allclose(forecast.upper - forecast.mean, half)
    np.testing.assert_allclose(forecast.mean - forecast.lower, half)


def test_families_asked_for_fix_the_combination(panel):
    ys, members = panel
    fit = finish(members, ys, M, oracle(ys, members), families=("ets",))
    assert fit.choice.name == "families" and fit.choice.members == ("ets",)
    assert [m.spec.family for m in fit.series["s2"].fitted.members] == ["ets"]


def test_a_series_with_the_floor_only_keeps_it_uncalibrated():
    y = seasonal(30, 9)
    members = {
        "bad": fit_members(y, M, H, (FLOOR,)),
        "good": fit_members(seasonal(40, 3), M, H, ("ets",)),
    }
    ys = {"bad": y, "good": seasonal(40, 3)}
    fit = finish(members, ys, M, families=None)
    assert isinstance(fit.series["bad"].fitted, SeasonalNaive)
    assert isinstance(fit.series["good"].fitted, Combination)
    # The floor is scored on its windows all the same, as the bar it is for the others.
    floor = fit.series["bad"].backtest
    assert floor is not None and floor.spec.family == FLOOR
    assert floor.smape == fit.series["bad"].naive_smape


def test_calibrated_intervals_cover_what_they_claim_on_a_panel_with_known_noise():
    """Many series with the same noise: the 80 % and 95 % intervals, calibrated on the windows,
    cover about that share of the points that come next."""
    ys, tests = {}, {}
    for i in range(60):
        y = seasonal(46, 100 + i, noise=2.0)
        ys[f"s{i}"], tests[f"s{i}"] = y[:40], y[40:]
    members = {uid: fit_members(y, M, H, ("ets", "theta")) for uid, y in ys.items()}
    fit = finish(members, ys, M)
    for level in (0.8, 0.95):
        inside = [
            np.mean((tests[uid] >= f.lower) & (tests[uid] <= f.upper))
            for uid, s in fit.series.items()
            for f in [s.fitted.forecast(H, level)]
        ]
        assert np.mean(inside) == pytest.approx(level, abs=0.06)


def test_a_model_with_the_global_member_round_trips_and_forecasts_beyond_its_path(panel):
    import pandas as pd

    from services.forecasting import forecasters
    from services.forecasting.forecaster import Forecaster
    from services.forecasting.frequency import Frequency

    ys, members = panel
    global_member = oracle(ys, members)
    short = {uid: path[:H] for uid, path in global_member.paths.items()}
    model = finish(members, ys, M, GlobalMember(global_member.windows, short, H)).series["s1"]
    forecaster = Forecaster(model.fitted, Frequency("QS", M), pd.Timestamp("2020-01-01"))
    served = Forecaster.from_json(forecasters.line("s1", forecaster))
    for level in (0.8, 0.95, 0.5):
        here, there = forecaster.fitted.forecast(2 * H, level), served.fitted.forecast(2 * H, level)
        np.testing.assert_allclose(there.mean, here.mean, rtol=1e-6)
        np.testing.assert_allclose(there.upper, here.upper, rtol=1e-6)
    far = served.fitted.forecast(2 * H)
    assert np.isfinite(far.mean).all() and np.isfinite(far.upper).all()
    # Beyond its path the global member is silent: the mean is the statistical members'.
    local = [m for m in served.fitted.members if m.spec.family != GLOBAL]
    statistical = np.mean([m.forecast(2 * H).mean for m in local], axis=0)
    np.testing.assert_allclose(far.mean[H:], statistical[H:], rtol=1e-6)
    assert not np.allclose(far.mean[:H], statistical[:H])
