import numpy as np
import pytest

from services.forecasting.ensemble import DEFAULT, Window, candidates, choose, margin

MEMBERS = ("ets", "ces", "theta", "standard_theta", "arima", "lightgbm")


def windows(count, errors, h=6, level=100.0):
    """`count` windows whose actuals are flat at `level`; each member misses by its error."""
    actual = np.full(h, level)
    return [
        Window(actual, {f: actual + e for f, e in errors.items()}, np.full(12, level))
        for _ in range(count)
    ]


def test_candidates_are_each_distinct_set_once_with_the_default_among_them():
    found = candidates(MEMBERS)
    assert found[DEFAULT] == ("ets", "ces", "theta", "standard_theta", "arima")
    assert found["all"] == (*found[DEFAULT], "lightgbm")
    assert len(set(found.values())) == len(found)
    assert "lightgbm" not in found  # the global model alone is never a candidate


def test_a_panel_follows_its_windows_when_they_are_many():
    errors = {
        "ets": 1.0,
        "ces": 1.0,
        "theta": 1.0,
        "standard_theta": 1.0,
        "arima": 1.0,
        "lightgbm": -5.0,
    }
    choice = choose(windows(300, errors), MEMBERS)
    assert choice.name == "all"  # the members' errors cancel only all together
    assert choice.losses["all"] < choice.losses[DEFAULT]


def test_a_series_alone_keeps_the_default_on_a_small_advantage():
    errors = {"ets": 1.08, "ces": 1.1, "theta": 1.2, "standard_theta": 1.3, "arima": 1.05}
    choice = choose(windows(3, errors), MEMBERS[:5])
    assert choice.name == DEFAULT
    assert "kept" in choice.reason


def test_a_series_alone_takes_a_member_its_windows_clearly_prefer():
    errors = {"ets": 10.0, "ces": 12.0, "theta": 11.0, "standard_theta": 9.0, "arima": 1.0}
    choice = choose(windows(3, errors), MEMBERS[:5])
    assert choice.name == "arima" and choice.members == ("arima",)


def test_without_windows_the_default_is_kept_and_says_why():
    choice = choose([], MEMBERS)
    assert choice.name == DEFAULT and "no validation window" in choice.reason


def test_the_margin_shrinks_with_the_evidence():
    assert margin(3) == pytest.approx(0.10)
    assert margin(300) == pytest.approx(0.01)
    assert margin(3) > margin(30) > margin(3000)
