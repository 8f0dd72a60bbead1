"""The horizon's unit and the chart's ticks, read from the dates the demo draws."""

from __future__ import annotations

import pandas as pd
import pytest

from services.demo import periods


@pytest.mark.parametrize(
    ("freq", "words"),
    [
        ("h", "48 hours"),
        ("D", "48 days"),
        ("B", "48 business days"),
        ("W-SUN", "48 weeks"),
        ("MS", "48 months"),
        ("ME", "48 months"),
        ("QS-OCT", "48 quarters"),
        ("YE-DEC", "48 years"),
    ],
)
def test_the_unit_of_a_horizon_is_named_from_the_dates_frequency(freq: str, words: str) -> None:
    dates = pd.Series(pd.date_range("2001-01-01", periods=8, freq=freq))
    assert periods.unit_of(dates).count(48) == words


def test_one_period_is_singular_and_too_few_or_uneven_dates_say_periods() -> None:
    monthly = periods.unit_of(pd.Series(pd.date_range("2001-01-01", periods=3, freq="MS")))
    assert monthly.count(1) == "1 month"
    assert periods.unit_of(pd.Series(pd.to_datetime(["2001-01-01", "2001-02-01"]))).count(2) == (
        "2 periods"
    )
    uneven = pd.Series(pd.to_datetime(["2001-01-01", "2001-01-03", "2001-02-11", "2001-02-12"]))
    assert periods.unit_of(uneven) is periods.PERIOD


def test_monthly_ticks_fall_on_months_with_their_year_and_widen_to_whole_years() -> None:
    short = periods.axis(periods.MONTHLY, 6).to_dict()
    assert short["tickCount"] == {"interval": "month", "step": 1}
    assert short["format"] == "%b %Y"  # "Mar 2024", never "Mar 07" without its year
    airline = periods.axis(periods.MONTHLY, 144 + 18).to_dict()
    assert airline["tickCount"] == {"interval": "year", "step": 2}
    assert airline["format"] == "%Y"


@pytest.mark.parametrize(
    ("unit", "length", "interval", "step"),
    [
        (periods.DAILY, 74, "week", 1),
        (periods.DAILY, 2 * 365, "month", 3),
        (periods.WEEKLY, 113, "month", 3),
        (periods.QUARTERLY, 48, "year", 1),
        (periods.YEARLY, 36, "year", 5),
        (periods.HOURLY, 96, "hour", 12),
    ],
)
def test_ticks_keep_to_a_dozen_on_round_dates_of_the_series_frequency(
    unit: periods.Unit, length: int, interval: str, step: int
) -> None:
    spacing = periods.tick(unit, length)
    assert spacing is not None and (spacing.interval, spacing.step) == (interval, step)
    assert length / spacing.periods <= periods.MAX_TICKS
