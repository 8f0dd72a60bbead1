"""Parse a `ds,y` series (read by `source.read_bytes`) and validate it.

Repaired (and reported): rows out of order are sorted; a few missing values or missing
timestamps (at most 5% of the series, at most 3 in a row) are filled by linear interpolation.
Business-day series keep their dates: weekdays without a row are market holidays, not gaps.
Refused with an error that names the problem and where it is: everything else.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from services.forecasting.frequency import Frequency, FrequencyError, infer_frequency
from services.forecasting.source import DataError, quote, read_bytes

MAX_FILL_SHARE = 0.05
MAX_FILL_RUN = 3
MAX_ROWS = 500_000
# The fewest points a forecast with an interval needs (the seasonal naive floor's spread needs
# two differences). Shorter than a backtest needs is fine: the model is fitted without one.
MIN_POINTS = 3
GUESSED_DATES = 1000  # of the dates not read, those whose format an error names
_MISSING = {"", "na", "nan", "null", "none"}


@dataclass(frozen=True)
class Series:
    """A validated, regular series: values on a complete grid of `frequency`."""

    ds: pd.DatetimeIndex
    y: np.ndarray
    frequency: Frequency
    fingerprint: str
    repairs: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.y.size)

    def future_dates(self, horizon: int) -> pd.DatetimeIndex:
        return self.frequency.dates_after(self.ds[-1], horizon)


def parse_csv(raw: bytes, ds_col: str = "ds", y_col: str = "y") -> pd.DataFrame:
    """The two columns as strings, with CSV line numbers as the index."""
    if not raw.strip():
        raise DataError("data file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"data is not UTF-8 text (invalid byte at offset {exc.start})") from exc
    if "\x00" in text:
        raise DataError("data is binary, not CSV text")
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"data is not valid CSV: {exc}") from exc
    missing = [col for col in (ds_col, y_col) if col not in frame.columns]
    if missing:
        found = ", ".join(repr(c) for c in frame.columns)
        hint = " (is the delimiter a comma?)" if len(frame.columns) == 1 else ""
        raise DataError(f"missing column(s) {', '.join(map(repr, missing))}; found {found}{hint}")
    if frame.empty:
        raise DataError("data has a header but no rows")
    if len(frame) > MAX_ROWS:
        raise DataError(f"data has {len(frame):,} rows, more than the limit of {MAX_ROWS:,}")
    frame = frame[[ds_col, y_col]].rename(columns={ds_col: "ds", y_col: "y"})
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")  # line 1 is the header
    return frame


def _where(lines: pd.Index, values: pd.Series | None = None, limit: int = 5) -> str:
    shown = [
        f"line {line}" + (f" ({quote(values[line])})" if values is not None else "")
        for line in lines[:limit]
    ]
    more = f" and {len(lines) - limit} more" if len(lines) > limit else ""
    return ", ".join(shown) + more


def parse_dates(raw: pd.Series) -> pd.Series:
    """Stripped date strings as timestamps (naive, UTC if zoned); NaT where unparseable."""
    try:
        dates = pd.to_datetime(raw.str.strip(), errors="coerce")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"column 'ds': dates could not be parsed: {exc}") from exc
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    return dates


def parse_values(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Stripped value strings as floats (NaN where missing or junk), and where they are junk:
    neither a number nor a missing-value token."""
    stripped = raw.str.strip()
    missing = stripped.str.lower().isin(_MISSING)
    values = pd.to_numeric(stripped.where(~missing), errors="coerce").astype(float)
    return values, values.isna() & ~missing


def check_rows(frame: pd.DataFrame, dates: pd.Series, values: pd.Series, junk: pd.Series) -> None:
    """Refuse unparseable dates, non-numeric values and infinite values, naming their lines."""
    bad = dates.index[dates.isna()]
    if len(bad):
        raise DataError(f"column 'ds': {_date_problem(frame['ds'].str.strip(), bad)}")
    bad = values.index[junk.to_numpy(dtype=bool)]
    if len(bad):
        raise DataError(
            f"column 'y': {len(bad)} non-numeric value(s) at {_where(bad, frame['y'].str.strip())}"
        )
    infinite = values.index[np.isinf(values.to_numpy(dtype=float, na_value=0.0))]
    if len(infinite):
        raw = frame["y"].str.strip()
        raise DataError(f"column 'y': {len(infinite)} infinite value(s) at {_where(infinite, raw)}")


def _date_problem(raw: pd.Series, bad: pd.Index) -> str:
    """Why the dates at the lines `bad` were not read: written in another format than the one
    the column is read by (its first date's), or in none."""
    from pandas.tseries.api import guess_datetime_format

    read_as = guess_datetime_format(raw.iloc[0])
    formats: dict[str, list[int]] = {}
    for line in bad[:GUESSED_DATES]:
        formats.setdefault(guess_datetime_format(raw[line]) or "", []).append(line)
    others = {fmt: lines for fmt, lines in formats.items() if fmt and fmt != read_as}
    if read_as is None or not others:
        return f"{len(bad)} unparseable date(s) at {_where(bad, raw)}"
    seen = "; ".join(
        f"{fmt or 'unparseable'} at {_where(pd.Index(lines), raw, 2)}"
        for fmt, lines in formats.items()
    )
    return (
        f"dates in more than one format: the column is read as {read_as}, the format of line "
        f"{raw.index[0]} ({quote(raw.iloc[0])}), but {len(bad)} date(s) are not: {seen}; "
        "write every date in one format (YYYY-MM-DD is the safest)"
    )


def validate(
    frame: pd.DataFrame,
    freq: str | None = None,
    season_length: int | None = None,
    min_points: int = MIN_POINTS,
) -> Series:
    """Check and repair a parsed frame into a regular `Series`, or raise `DataError`."""
    dates = parse_dates(frame["ds"])
    values, junk = parse_values(frame["y"])
    check_rows(frame, dates, values, junk)
    return regularise(dates, values, freq, season_length, min_points, raw_ds=frame["ds"])


def regularise(
    dates: pd.Series,
    values: pd.Series,
    freq: str | None = None,
    season_length: int | None = None,
    min_points: int = MIN_POINTS,
    raw_ds: pd.Series | None = None,
) -> Series:
    """The checks after parsing (`check_rows`): duplicates, order, frequency, grid, gaps, length
    and variation. `raw_ds`: the dates as written, which errors quote."""
    repairs: list[str] = []
    dupes = dates.index[dates.duplicated(keep=False)]
    if len(dupes):
        quoted = dates.astype(str) if raw_ds is None else raw_ds
        raise DataError(
            f"column 'ds': {dates[dupes].nunique()} duplicate timestamp(s) "
            f"at {_where(dupes, quoted)}"
        )
    if not dates.is_monotonic_increasing:
        repairs.append("rows were out of order and have been sorted by date")
    order = np.argsort(dates.to_numpy(), kind="stable")
    index = pd.DatetimeIndex(dates.to_numpy()[order])
    series = pd.Series(values.to_numpy(dtype=float)[order], index=index)
    try:
        frequency = infer_frequency(index, freq, season_length)
    except FrequencyError as exc:
        raise DataError(f"column 'ds': {exc}") from exc
    series = _fill_grid(series, frequency, repairs)
    _check_enough(series, frequency, min_points)
    return Series(
        ds=pd.DatetimeIndex(series.index),
        y=series.to_numpy(dtype=float),
        frequency=frequency,
        fingerprint=fingerprint(series),
        repairs=tuple(repairs),
    )


def _fill_grid(series: pd.Series, frequency: Frequency, repairs: list[str]) -> pd.Series:
    grid = frequency.grid(series.index[0], series.index[-1])
    off_grid = series.index.difference(grid)
    if len(off_grid):
        shown = ", ".join(str(d.date()) for d in off_grid[:5])
        raise DataError(
            f"column 'ds': {len(off_grid)} timestamp(s) off the {frequency.name} grid "
            f"(irregular spacing) at {shown}"
        )
    if frequency.alias == "B":
        # Business-day series skip market holidays: missing weekdays are not gaps to fill, and
        # the series is modelled by trading day.
        if series.isna().any():
            return _fill_values(series, repairs)
        return series
    full = series.reindex(grid)
    gaps = full.index[full.isna()]
    if len(gaps) == 0:
        return full
    absent = full.index.difference(series.index)
    run = _longest_run(full.isna().to_numpy())
    where = ", ".join(str(d.date()) for d in gaps[:5]) + (
        f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
    )
    missing_values = len(gaps) - len(absent)
    detail = f"{len(absent)} missing timestamp(s) and {missing_values} missing value(s) at {where}"
    if len(gaps) > MAX_FILL_SHARE * len(full) or run > MAX_FILL_RUN:
        raise DataError(
            f"too many gaps to repair: {detail} (longest run {run}); at most "
            f"{MAX_FILL_SHARE:.0%} of points and {MAX_FILL_RUN} in a row are interpolated"
        )
    repairs.append(f"interpolated {detail}")
    return full.interpolate(method="linear", limit_direction="both")


def _fill_values(series: pd.Series, repairs: list[str]) -> pd.Series:
    missing = series.index[series.isna()]
    run = _longest_run(series.isna().to_numpy())
    if len(missing) > MAX_FILL_SHARE * len(series) or run > MAX_FILL_RUN:
        raise DataError(f"too many missing values to repair: {len(missing)} (longest run {run})")
    repairs.append(f"interpolated {len(missing)} missing value(s)")
    return series.interpolate(method="linear", limit_direction="both")


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for flag in mask:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def _check_enough(series: pd.Series, frequency: Frequency, min_points: int) -> None:
    if len(series) < min_points:
        raise DataError(
            f"too few points: {len(series)}, need at least {min_points} for a {frequency.name} "
            f"series (a forecast with an interval needs {MIN_POINTS})"
        )
    if np.ptp(series.to_numpy()) == 0:
        raise DataError(
            f"column 'y' is constant ({series.iloc[0]:g} everywhere): nothing to forecast"
        )


def fingerprint(series: pd.Series) -> str:
    """A short, stable digest of dates and values: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    digest.update(pd.DatetimeIndex(series.index).asi8.tobytes())
    digest.update(np.ascontiguousarray(series.to_numpy(dtype=float)).tobytes())
    return digest.hexdigest()[:16]


def load_series(
    uri: str,
    ds_col: str = "ds",
    y_col: str = "y",
    freq: str | None = None,
    season_length: int | None = None,
    timeout: float = 30.0,
) -> Series:
    return validate(parse_csv(read_bytes(uri, timeout), ds_col, y_col), freq, season_length)
