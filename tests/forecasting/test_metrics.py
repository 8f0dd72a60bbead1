import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.forecasting import metrics

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
arrays = st.lists(finite, min_size=1, max_size=30)


def test_smape_matches_a_hand_computed_value():
    # |100-110|/(210) * 2 = 0.095238..., |200-180|/380 * 2 = 0.105263...; mean * 100
    expected = 100 * ((2 * 10 / 210) + (2 * 20 / 380)) / 2
    assert metrics.smape([100, 200], [110, 180]) == pytest.approx(expected)
    assert metrics.smape([100, 200], [110, 180]) == pytest.approx(10.0250626, rel=1e-7)


def test_smape_counts_a_zero_over_zero_term_as_perfect():
    assert metrics.smape([0, 10], [0, 10]) == 0.0


def test_mase_matches_a_hand_computed_value():
    history = [1, 2, 3, 4, 6, 8]  # season 2: |3-1|,|4-2|,|6-3|,|8-4| -> mean 11/4
    assert metrics.naive_scale(history, 2) == pytest.approx(2.75)
    assert metrics.mase([10, 12], [11, 10], history, 2) == pytest.approx(1.5 / 2.75)


def test_rmse_mae_and_coverage_match_hand_computed_values():
    assert metrics.rmse([1, 2, 3], [1, 2, 6]) == pytest.approx(math.sqrt(3))
    assert metrics.mae([1, 2, 3], [2, 2, 6]) == pytest.approx(4 / 3)
    assert metrics.coverage([1, 5, 9], [0, 0, 0], [2, 6, 8]) == pytest.approx(2 / 3)


def test_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="equal in shape"):
        metrics.smape([1, 2], [1])


@given(st.data())
def test_smape_is_bounded_and_symmetric(data):
    a = data.draw(arrays)
    f = data.draw(st.lists(finite, min_size=len(a), max_size=len(a)))
    value = metrics.smape(a, f)
    assert 0.0 <= value <= 200.0 + 1e-9
    assert value == pytest.approx(metrics.smape(f, a))


@given(arrays.filter(lambda xs: len(xs) > 2), st.floats(min_value=0.01, max_value=1e3))
def test_mase_is_invariant_to_the_scale_of_the_data(values, factor):
    y = np.asarray(values)
    history, actual = np.concatenate([y, y[::-1] + 1.0]), y
    forecast = actual + 1.0
    base = metrics.mase(actual, forecast, history, 1)
    assert metrics.mase(actual * factor, forecast * factor, history * factor, 1) == pytest.approx(
        base, rel=1e-6
    )
