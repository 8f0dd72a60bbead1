"""Infer a series' sampling frequency and season length from its timestamps."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pandas.tseries.frequencies import to_offset

_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class Kind:
    name: str
    season_length: int
    horizon: int  # what the trainer backtests when no horizon is given


# By pandas offset prefix: one table for every frequency-dependent default.
KINDS = {
    "h": Kind("hourly", 24, 48),
    "D": Kind("daily", 7, 14),
    "B": Kind("business-daily", 5, 10),
    "W": Kind("weekly", 52, 13),
    "MS": Kind("monthly", 12, 12),
    "ME": Kind("monthly", 12, 12),
    "QS": Kind("quarterly", 4, 8),
    "QE": Kind("quarterly", 4, 8),
    "YS": Kind("yearly", 1, 6),
    "YE": Kind("yearly", 1, 6),
}


class FrequencyError(ValueError):
    pass


@dataclass(frozen=True)
class Frequency:
    alias: str  # a pandas offset alias, e.g. "MS", "QS-OCT", "W-SUN"
    season_length: int

    @property
    def name(self) -> str:
        kind = KINDS.get(self.alias.split("-")[0])
        return kind.name if kind else self.alias

    @property
    def default_horizon(self) -> int:
        """The horizon to backtest when none is given: the kind's, else two seasons."""
        kind = KINDS.get(self.alias.split("-")[0])
        return kind.horizon if kind else 2 * self.season_length

    def grid(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
        return pd.date_range(start, end, freq=self.alias)

    def dates_after(self, last: pd.Timestamp, periods: int) -> pd.DatetimeIndex:
        return pd.date_range(last, periods=periods + 1, freq=self.alias)[1:]


def infer_frequency(
    index: pd.DatetimeIndex, alias: str | None = None, season_length: int | None = None
) -> Frequency:
    """The frequency of sorted, unique timestamps; `alias`/`season_length` override the guess."""
    if alias is None:
        alias = _guess_alias(index)
    try:
        prefix = to_offset(alias).rule_code.split("-")[0]
    except ValueError as exc:
        raise FrequencyError(
            f"unknown frequency {alias!r}: use a pandas alias such as D, W-SUN, MS, QS, YS"
        ) from exc
    kind = KINDS.get(prefix)
    m = season_length if season_length is not None else (kind.season_length if kind else 1)
    if m < 1:
        raise FrequencyError(f"season length must be at least 1, got {m}")
    return Frequency(alias=to_offset(alias).rule_code, season_length=m)


def _guess_alias(index: pd.DatetimeIndex) -> str:
    if len(index) < 3:
        raise FrequencyError(f"too few points to infer a frequency: {len(index)}")
    exact = pd.infer_freq(index)
    if exact is not None:
        return _canonical(exact)
    step = pd.Series(index).diff().dropna().median()
    days = step / pd.Timedelta(days=1)
    first = index[0]
    if abs(days * 24 - 1) < 1e-9:
        return "h"
    if days == 1:
        weekend = (index.dayofweek >= 5).any()
        return "D" if weekend else "B"
    if days == 7:
        return f"W-{_WEEKDAYS[first.dayofweek]}"
    if 28 <= days <= 31:
        return "ME" if index.is_month_end.all() else "MS"
    if 89 <= days <= 92:
        # Any month of the quarterly cycle names the same anchor (QS-JAN == QS-APR).
        return ("QE-" if index.is_quarter_end.all() else "QS-") + _MONTHS[first.month - 1]
    if 365 <= days <= 366:
        return ("YE-" if index.is_year_end.all() else "YS-") + _MONTHS[first.month - 1]
    raise FrequencyError(
        f"unsupported spacing of {step} between timestamps: supported are hourly, daily, "
        "business-daily, weekly, monthly, quarterly and yearly (or pass --freq)"
    )


def _canonical(alias: str) -> str:
    """pandas may say "M"/"Q"/"A"-style aliases; keep the current spelling."""
    return to_offset(alias).rule_code
