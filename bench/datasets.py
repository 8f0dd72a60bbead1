"""The development set of real series that the installed packages ship (nothing downloaded)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.forecasting.data import Series, parse_csv, validate
from services.trainer.config import BUNDLED_DATA


@dataclass(frozen=True)
class Dataset:
    name: str
    load: Callable[[], Series]


def _series(
    ds: pd.DatetimeIndex | pd.Series, y: np.ndarray, freq: str | None = None, m: int | None = None
) -> Series:
    frame = pd.DataFrame(
        {
            "ds": pd.DatetimeIndex(ds).strftime("%Y-%m-%d"),
            "y": np.asarray(y, dtype=float).astype(str),
        }
    )
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    return validate(frame, freq, m)


def airline() -> Series:
    return validate(parse_csv(BUNDLED_DATA.read_bytes()))


def nile() -> Series:
    from statsmodels.datasets import nile as data

    frame = data.load_pandas().data
    return _series(
        pd.to_datetime(frame["year"].astype(int).astype(str)), frame["volume"].to_numpy()
    )


def elnino() -> Series:
    from statsmodels.datasets import elnino as data

    frame = data.load_pandas().data
    months = frame.columns[1:]
    values = frame[months].to_numpy().ravel()
    start = f"{int(frame['YEAR'].iloc[0])}-01-01"
    return _series(pd.date_range(start, periods=values.size, freq="MS"), values)


def _macro(column: str) -> Callable[[], Series]:
    def load() -> Series:
        from statsmodels.datasets import macrodata as data

        frame = data.load_pandas().data
        return _series(
            pd.date_range("1959-01-01", periods=len(frame), freq="QS"), frame[column].to_numpy()
        )

    load.__name__ = column
    return load


def heartrate() -> Series:
    from pmdarima.datasets import load_heartrate

    y = np.asarray(load_heartrate())
    # Sampled every 0.5 s with no calendar; index it daily and declare no seasonality.
    return _series(pd.date_range("2000-01-01", periods=y.size, freq="D"), y, "D", 1)


def msft() -> Series:
    from pmdarima.datasets.stocks import load_msft

    frame = load_msft()
    return _series(pd.to_datetime(frame["Date"]), frame["Close"].to_numpy(), "B")


def longley() -> Series:
    from statsmodels.datasets import longley as data

    frame = data.load_pandas().data
    return _series(
        pd.to_datetime(frame["YEAR"].astype(int).astype(str)), frame["TOTEMP"].to_numpy()
    )


DEV_SET = (
    Dataset("airline", airline),
    Dataset("nile", nile),
    Dataset("elnino", elnino),
    Dataset("realgdp", _macro("realgdp")),
    Dataset("cpi", _macro("cpi")),
    Dataset("unemp", _macro("unemp")),
    Dataset("heartrate", heartrate),
    Dataset("msft", msft),
    Dataset("longley", longley),
)
