"""Real series that the installed packages ship (nothing downloaded, nothing synthetic): the
development set the method is tuned on, and a holdout set it never is (the check that an
improvement generalises)."""

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


def _dated(start: str, freq: str, values: object, m: int | None = None) -> Series:
    y = np.asarray(values, dtype=float)
    while np.isnan(y[-1]):  # ausbeer ends with a missing quarter
        y = y[:-1]
    return _series(pd.date_range(start, periods=y.size, freq=freq), y, None, m)


def _pmdarima(name: str, start: str, freq: str) -> Callable[[], Series]:
    def load() -> Series:
        import pmdarima.datasets as data

        return _dated(start, freq, getattr(data, f"load_{name}")())

    load.__name__ = name
    return load


def elec_equip() -> Series:
    from statsmodels.datasets import elec_equip as data

    frame = data.load_pandas().data
    return _series(frame.index, frame.iloc[:, 0].to_numpy())


def danish_money() -> Series:
    from statsmodels.datasets import danish_data as data

    frame = data.load_pandas().data
    return _series(frame.index, frame["lrm"].to_numpy())


def interest_rate() -> Series:
    from statsmodels.datasets import interest_inflation as data

    frame = data.load_pandas().data
    return _dated("1972-04-01", "QS", frame["R"].to_numpy())


def sunspots() -> Series:
    from statsmodels.datasets import sunspots as data

    frame = data.load_pandas().data
    return _series(
        pd.to_datetime(frame["YEAR"].astype(int).astype(str)), frame["SUNACTIVITY"].to_numpy()
    )


def co2() -> Series:
    from statsmodels.datasets import co2 as data

    weekly = data.load_pandas().data["co2"]
    # The last 7 years: earlier ones have gaps of up to 18 weeks (too long to interpolate), and
    # pmdarima's seasonal search with m=52 needs over 6 GB on the 710 weeks since 1985.
    recent = weekly[weekly.index >= "1995-01-01"]
    frame = pd.DataFrame({"ds": recent.index.strftime("%Y-%m-%d"), "y": recent.astype(str)})
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    return validate(frame)


def taylor() -> Series:
    from pmdarima.datasets import load_taylor

    # Half-hourly demand for 12 weeks, summed per day (a weekly season of 7).
    daily = np.asarray(load_taylor(), dtype=float).reshape(-1, 48).sum(axis=1)
    return _series(pd.date_range("2000-06-05", periods=daily.size, freq="D"), daily, "D", 7)


HOLDOUT_SET = (
    Dataset("wineind", _pmdarima("wineind", "1980-01-01", "MS")),
    Dataset("elec_equip", elec_equip),
    Dataset("woolyrnq", _pmdarima("woolyrnq", "1965-01-01", "QS")),
    Dataset("ausbeer", _pmdarima("ausbeer", "1956-01-01", "QS")),
    Dataset("austres", _pmdarima("austres", "1971-01-01", "QS")),
    Dataset("danish_money", danish_money),
    Dataset("interest_rate", interest_rate),
    Dataset("lynx", _pmdarima("lynx", "1821-01-01", "YS")),
    Dataset("sunspots", sunspots),
    Dataset("co2", co2),
    Dataset("taylor", taylor),
)

SETS = {"dev": DEV_SET, "holdout": HOLDOUT_SET, "both": DEV_SET + HOLDOUT_SET}
