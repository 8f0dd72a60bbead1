"""What one period of the served model is, read from the dates it forecasts (and the history
drawn before them): the horizon's unit in words ("12 months ahead"), and the chart's ticks, on
the series' own periods and with years."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import pandas as pd
from pandas.tseries.frequencies import to_offset

MAX_TICKS = 12  # labels on the time axis, at most


@dataclass(frozen=True)
class Tick:
    interval: str  # a Vega time interval: hour, day, week, month, year
    step: int  # of `interval` between two ticks
    periods: float  # how many of the series' periods that is


@dataclass(frozen=True)
class Unit:
    singular: str
    plural: str
    label: str  # d3 time format of a tick, with the year (ticks a year apart show the year only)
    ticks: tuple[Tick, ...]  # tick spacings that land on round dates, shortest first

    def count(self, periods: int) -> str:
        """`1 month`, `12 months`."""
        return f"{periods:,} {self.singular if periods == 1 else self.plural}"


def _ticks(*spacings: tuple[str, int, float]) -> tuple[Tick, ...]:
    return tuple(Tick(*spacing) for spacing in spacings)


_YEARS = (("year", 1), ("year", 2), ("year", 5), ("year", 10), ("year", 20), ("year", 50))


def _years(per_year: float) -> tuple[tuple[str, int, float], ...]:
    return tuple((interval, n, n * per_year) for interval, n in _YEARS)


DAY = "%d %b %Y"
PERIOD = Unit("period", "periods", DAY, ())  # frequency unknown: Vega picks the ticks
HOURLY = Unit(
    "hour",
    "hours",
    f"{DAY} %H:%M",
    _ticks(*(("hour", n, n) for n in (1, 2, 3, 6, 12)), ("day", 1, 24), ("week", 1, 168)),
)
DAILY = Unit(
    "day",
    "days",
    DAY,
    _ticks(("day", 1, 1), ("day", 2, 2), ("week", 1, 7), ("week", 2, 14), ("month", 1, 30.4),
           ("month", 3, 91), ("month", 6, 182), *_years(365.25)),
)  # fmt: skip
BUSINESS = Unit(
    "business day",
    "business days",
    DAY,
    _ticks(("day", 1, 1), ("week", 1, 5), ("week", 2, 10), ("month", 1, 21), ("month", 3, 63),
           ("month", 6, 126), *_years(252)),
)  # fmt: skip
WEEKLY = Unit(
    "week",
    "weeks",
    DAY,
    _ticks(("week", 1, 1), ("week", 2, 2), ("month", 1, 4.35), ("month", 3, 13), ("month", 6, 26),
           *_years(52.18)),
)  # fmt: skip
MONTHLY = Unit(
    "month",
    "months",
    "%b %Y",
    _ticks(("month", 1, 1), ("month", 2, 2), ("month", 3, 3), ("month", 6, 6), *_years(12)),
)
QUARTERLY = Unit(
    "quarter", "quarters", "Q%q %Y", _ticks(("month", 3, 1), ("month", 6, 2), *_years(4))
)
YEARLY = Unit("year", "years", "%Y", _ticks(*_years(1)))
# By pandas offset prefix, as the trainer names frequencies (services/forecasting/frequency.py).
UNITS = {
    "h": HOURLY,
    "D": DAILY,
    "B": BUSINESS,
    "W": WEEKLY,
    "MS": MONTHLY,
    "ME": MONTHLY,
    "QS": QUARTERLY,
    "QE": QUARTERLY,
    "YS": YEARLY,
    "YE": YEARLY,
}


def unit_of(dates: pd.Series) -> Unit:
    """The unit of evenly spaced, sorted dates (the last few decide); PERIOD when they are too
    few (three at least) or not on one pandas frequency."""
    tail = pd.DatetimeIndex(pd.to_datetime(dates)).drop_duplicates()[-8:]
    if len(tail) < 3:
        return PERIOD
    alias = pd.infer_freq(tail)
    if alias is None:
        return PERIOD
    return UNITS.get(to_offset(alias).rule_code.split("-")[0], PERIOD)


def tick(unit: Unit, periods: int) -> Tick | None:
    """The shortest of `unit`'s round tick spacings that keeps `periods` to MAX_TICKS ticks."""
    wanted = periods / MAX_TICKS
    return next(
        (t for t in unit.ticks if t.periods >= wanted), unit.ticks[-1] if unit.ticks else None
    )


def axis(unit: Unit, periods: int) -> alt.Axis:
    """The time axis of a chart `periods` long: a tick every few of `unit`'s periods, on round
    dates, each labelled with its year."""
    spacing = tick(unit, periods)
    if spacing is None:
        return alt.Axis(format=unit.label, labelOverlap=True)
    return alt.Axis(
        tickCount={"interval": spacing.interval, "step": spacing.step},
        format="%Y" if spacing.interval == "year" else unit.label,
        labelOverlap=True,
    )
