import numpy as np
import pytest

from services.forecasting.calibration import LEVELS, MIN_ERRORS, Calibration, normalised_errors
from services.forecasting.specs import z


def test_intervals_from_normal_errors_cover_what_they_claim_at_every_level():
    rng = np.random.default_rng(0)
    calibration = Calibration.from_errors(rng.normal(size=20_000))
    assert calibration is not None
    fresh = np.abs(rng.normal(size=20_000))
    for level in (0.5, 0.8, 0.9, 0.95, 0.99, 0.63, 0.999):
        assert np.mean(fresh <= calibration.quantile(level)) == pytest.approx(level, abs=0.01)


def test_errors_wider_than_the_model_claims_widen_the_interval_by_as_much():
    rng = np.random.default_rng(1)
    calibration = Calibration.from_errors(2.5 * rng.normal(size=20_000))
    assert calibration is not None
    assert calibration.quantile(0.95) == pytest.approx(2.5 * z(0.95), rel=0.03)


def test_a_level_too_high_for_the_errors_takes_the_ratio_of_the_highest_level_they_estimate():
    errors = np.linspace(0.1, 2.0, 30)  # 30 errors: 0.975 needs ceil(31 * 0.975) = 31 > 30
    calibration = Calibration.from_errors(errors)
    assert calibration is not None
    ratios = dict(zip(LEVELS, calibration.ratio, strict=True))
    assert ratios[0.975] == ratios[0.99] == ratios[0.95]
    assert ratios[0.95] == pytest.approx(errors[29] / z(0.95))  # rank ceil(31 * 0.95) = 30


def test_too_few_errors_calibrate_nothing():
    assert Calibration.from_errors(np.ones(MIN_ERRORS - 1)) is None
    assert Calibration.from_errors(np.array([np.nan] * 50 + [1.0] * (MIN_ERRORS - 1))) is None


def test_the_state_round_trips():
    calibration = Calibration.from_errors(np.random.default_rng(2).normal(size=500))
    assert calibration is not None
    again = Calibration.from_state(calibration.state())
    assert again.quantile(0.8) == pytest.approx(calibration.quantile(0.8), rel=1e-5)
    assert again.errors == 500


def test_normalised_errors_are_nan_where_the_spread_is_not_positive():
    out = normalised_errors(
        np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0]), np.array([2.0, 0.0, -1.0])
    )
    assert out[0] == 0.5 and np.isnan(out[1]) and np.isnan(out[2])
