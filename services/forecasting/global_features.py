"""The global model's configuration for a panel: lags, rolling means, calendar features, target
transforms and LightGBM's parameters. Chosen by the lead on M3's development data (issue 29):
kept as it is, not tuned here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "random_state": 0,
    "verbose": -1,
}

# By pandas offset prefix (as services.forecasting.frequency.KINDS); none for yearly or others.
CALENDAR: dict[str, tuple[str, ...]] = {
    "MS": ("month",),
    "ME": ("month",),
    "QS": ("quarter",),
    "QE": ("quarter",),
    "D": ("dayofweek",),
    "B": ("dayofweek",),
    "h": ("hour", "dayofweek"),
    "W": ("week",),  # ISO week of the year
}
# Without calendar features the dates only order the points: they count periods as days from an
# origin, so that a path of 365 years (beyond pandas' last date) is 365 days.
UNCALENDARED_START = "2000-01-01"
UNCALENDARED_FREQ = "D"


@dataclass(frozen=True)
class Features:
    freq: str  # pandas alias
    season_length: int
    lags: tuple[int, ...]
    windows: tuple[int, ...]  # rolling means of lag 1
    calendar: tuple[str, ...]  # pandas date attributes

    @classmethod
    def for_panel(cls, freq: str, season_length: int) -> Features:
        m = season_length
        lags = set(range(1, 7)) if m == 1 else {*range(1, min(m, 24) + 1), m, 2 * m}
        window = max(m, 3)
        prefix = to_offset(freq).rule_code.split("-")[0]
        return cls(
            freq=freq,
            season_length=m,
            lags=tuple(sorted(lags)),
            windows=tuple(sorted({3, window, 2 * window})),
            calendar=CALENDAR.get(prefix, ()),
        )

    def dates(self, last: pd.Timestamp, periods: int) -> pd.DatetimeIndex:
        """The time column of a series of `periods` points ending at `last`."""
        if self.calendar:
            return pd.date_range(end=last, periods=periods, freq=self.freq)
        return pd.date_range(UNCALENDARED_START, periods=periods, freq=UNCALENDARED_FREQ)

    @property
    def depth(self) -> int:
        """How many past (differenced) values the deepest feature reads: a lag, a rolling window
        of lag 1, or the seasonal rolling mean's two seasons back from lag m."""
        seasonal = 2 * self.season_length if self.season_length > 1 else 0
        return max(max(self.lags), max(self.windows), seasonal)

    @property
    def min_length(self) -> int:
        """The shortest series with one complete training row of its own: one point lost to the
        first difference, `depth` points of features, and the point they predict."""
        return self.depth + 2

    def lag_transforms(self) -> dict[int, list[Any]]:
        from mlforecast.lag_transforms import RollingMean, SeasonalRollingMean

        transforms: dict[int, list[Any]] = {1: [RollingMean(window_size=w) for w in self.windows]}
        m = self.season_length
        if m > 1:
            transforms[m] = [SeasonalRollingMean(season_length=m, window_size=2)]
        return transforms

    def pipeline_args(self, positive: bool) -> dict[str, Any]:
        """mlforecast's arguments: log then differences on a panel of positive values, else
        differences then a per-series standard scaler."""
        from mlforecast.target_transforms import (
            Differences,
            GlobalSklearnTransformer,
            LocalStandardScaler,
        )
        from sklearn.preprocessing import FunctionTransformer

        if positive:
            log = FunctionTransformer(func=np.log, inverse_func=np.exp)
            transforms: list[Any] = [GlobalSklearnTransformer(log), Differences([1])]
        else:
            transforms = [Differences([1]), LocalStandardScaler()]
        return {
            "freq": self.freq if self.calendar else UNCALENDARED_FREQ,
            "lags": list(self.lags),
            "lag_transforms": self.lag_transforms(),
            "date_features": list(self.calendar),
            "target_transforms": transforms,
        }
