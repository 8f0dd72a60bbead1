"""Read a long CSV of many series (`unique_id,ds,y`) in one pass and check each series by the
rules `data.py` applies to one.

A series that breaks a rule does not sink the others: it gets the floor model (seasonal naive,
naive when shorter than a season) on its usable points, or is left out when fewer than three
remain; either way its reason is kept. Usable points: rows with a date and a finite value, no
duplicated timestamp, on the grid, after the last gap of more than three points (shorter gaps
interpolated). Series whose frequencies differ are refused, naming the ids that differ.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.forecasting.data import (
    MAX_FILL_RUN,
    MIN_POINTS,
    DataError,
    Series,
    check_rows,
    fingerprint,
    parse_dates,
    parse_values,
    regularise,
)
from services.forecasting.frequency import Frequency, FrequencyError, infer_frequency

MAX_SERIES = 100_000
MAX_ROWS = 10_000_000
OK, FLOOR, EXCLUDED = "ok", "floor", "excluded"  # the full model, the floor model, left out


@dataclass(frozen=True)
class Entry:
    """One series of the file: what will be fitted on (None when left out), and why not the
    full model."""

    unique_id: str
    status: str
    series: Series | None = None
    reason: str = ""

    @property
    def message(self) -> str:
        return f"series {self.unique_id!r}: {self.reason}"


@dataclass(frozen=True)
class Panel:
    entries: tuple[Entry, ...]  # sorted by id
    frequency: Frequency
    rows: int

    @property
    def trainable(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.series is not None)

    def count(self, status: str) -> int:
        return sum(e.status == status for e in self.entries)

    @property
    def fingerprint(self) -> str:
        """A digest of every trainable series' id and data: same data, same fingerprint."""
        digest = hashlib.sha256()
        for entry in self.trainable:
            digest.update(f"{entry.unique_id}\0{entry.series.fingerprint}\n".encode())  # type: ignore[union-attr]
        return digest.hexdigest()[:16]


def header(raw: bytes) -> list[str]:
    """The CSV's column names (stripped); empty when the first line is not UTF-8 CSV."""
    return [name.strip() for name in _raw_header(raw)]


def _raw_header(raw: bytes) -> list[str]:
    first = raw.split(b"\n", 1)[0]
    try:
        text = first.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        return []
    return next(csv.reader([text]), [])


def parse_panel(raw: bytes, id_col: str, ds_col: str = "ds", y_col: str = "y") -> pd.DataFrame:
    """The three columns as Arrow strings, named `unique_id, ds, y`, CSV line numbers as index."""
    if not raw.strip():
        raise DataError("data file is empty")
    if b"\x00" in raw:
        raise DataError("data is binary, not CSV text")
    names = header(raw)
    missing = [col for col in (id_col, ds_col, y_col) if col not in names]
    if missing:
        found = ", ".join(repr(c) for c in names)
        raise DataError(f"missing column(s) {', '.join(map(repr, missing))}; found {found}")
    rows = raw.count(b"\n") - 1 + (not raw.endswith(b"\n"))
    if rows > MAX_ROWS:  # refused before parsing: memory stays bounded by the limit
        raise DataError(f"data has {rows:,} rows, more than the limit of {MAX_ROWS:,}")
    frame = _read_arrow(raw, {id_col: "unique_id", ds_col: "ds", y_col: "y"})
    if frame.empty:
        raise DataError("data has a header but no rows")
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")  # line 1 is the header
    return frame


def _read_arrow(raw: bytes, rename: dict[str, str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    original = {name.strip(): name for name in _raw_header(raw)}  # as Arrow names the columns
    wanted = {original[name]: new for name, new in rename.items()}
    options = pacsv.ConvertOptions(
        include_columns=list(wanted),
        column_types={name: pa.string() for name in wanted},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(io.BytesIO(raw), convert_options=options)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc):
            try:
                raw.decode("utf-8-sig")
            except UnicodeDecodeError as bad:
                raise DataError(
                    f"data is not UTF-8 text (invalid byte at offset {bad.start})"
                ) from exc
        raise DataError(f"data is not valid CSV: {exc}") from exc
    return table.to_pandas(types_mapper=pd.ArrowDtype).rename(columns=wanted)


@dataclass(frozen=True)
class _Checked:
    unique_id: str
    positions: np.ndarray
    series: Series | None
    error: str = ""


def validate_panel(
    frame: pd.DataFrame, freq: str | None = None, season_length: int | None = None
) -> Panel:
    """Every series checked and repaired as `data.validate` does one; see the module."""
    ids = frame["unique_id"].str.strip()
    groups = ids.groupby(ids, sort=True).indices
    if len(groups) > MAX_SERIES:
        raise DataError(f"data has {len(groups):,} series, more than the limit of {MAX_SERIES:,}")
    dates = parse_dates(frame["ds"])
    values, junk = parse_values(frame["y"])
    # Rows that need the slow, quoting path: a bad date or value, or a duplicated timestamp.
    flagged = (
        dates.isna().to_numpy()
        | junk.to_numpy()
        | np.isinf(values.to_numpy())
        | pd.DataFrame({"id": ids, "ds": dates}).duplicated(keep=False).to_numpy()
    )
    infer = _FrequencyCache(freq, season_length)
    checked = []
    for uid, found in groups.items():
        positions = np.asarray(found)
        try:
            if uid == "":
                raise DataError(f"column 'unique_id' is empty at {_lines(frame.index[positions])}")
            d, v = dates.iloc[positions], values.iloc[positions]
            if flagged[positions].any():
                rows = frame.iloc[positions]
                check_rows(rows, d, v, junk.iloc[positions])
                series = regularise(d, v, freq, season_length, raw_ds=rows["ds"])
            else:
                alias, m = infer(d)
                series = regularise(d, v, alias, m)
            checked.append(_Checked(str(uid), positions, series))
        except DataError as exc:
            checked.append(_Checked(str(uid), positions, None, str(exc)))
    usable = {c.unique_id: _usable(c, dates, values, freq, season_length) for c in checked}
    frequency = _frequency(checked, usable)
    entries = tuple(_entry(c, usable[c.unique_id], frequency) for c in checked)
    panel = Panel(entries, frequency, len(frame))
    if not panel.trainable:
        shown = "; ".join(e.message for e in entries[:3])
        raise DataError(f"no series can be trained: all {len(entries)} left out ({shown})")
    return panel


class _FrequencyCache:
    """`infer_frequency` once per distinct set of timestamps: the series of a panel often share
    their dates, and inferring a frequency costs more than the rest of a series' checks."""

    def __init__(self, freq: str | None, season_length: int | None) -> None:
        self.freq, self.season_length = freq, season_length
        self.known: dict[bytes, tuple[str | None, int | None]] = {}

    def __call__(self, dates: pd.Series) -> tuple[str | None, int | None]:
        index = pd.DatetimeIndex(np.sort(dates.to_numpy()))
        key = index.asi8.tobytes()
        if key not in self.known:
            try:
                found = infer_frequency(index, self.freq, self.season_length)
                self.known[key] = (found.alias, found.season_length)
            except FrequencyError:
                self.known[key] = (self.freq, self.season_length)  # regularise says why
        return self.known[key]


def _lines(index: pd.Index, limit: int = 5) -> str:
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return ", ".join(f"line {line}" for line in index[:limit]) + more


def _frequency(checked: list[_Checked], usable: dict[str, pd.Series | None]) -> Frequency:
    """The file's one frequency (by kind and season length); refuse several, naming the ids."""
    kinds: dict[tuple[str, int], list[str]] = {}
    for c in checked:
        if c.series is not None:
            key = (c.series.frequency.name, c.series.frequency.season_length)
            kinds.setdefault(key, []).append(c.unique_id)
    if len(kinds) > 1:
        ranked = sorted(kinds.items(), key=lambda kv: -len(kv[1]))
        (name, m), common = ranked[0]
        others = "; ".join(
            f"{len(ids)} {kind} (season {season}): "
            + ", ".join(map(repr, ids[:5]))
            + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            for (kind, season), ids in ranked[1:]
        )
        raise DataError(
            f"series of different frequencies in one file: {len(common)} are {name} (season "
            f"{m}), but {others}; train each frequency as a model of its own"
        )
    found = [c.series.frequency for c in checked if c.series is not None] or [
        s.attrs["frequency"] for s in usable.values() if s is not None
    ]
    if not found:
        shown = "; ".join(f"series {c.unique_id!r}: {c.error}" for c in checked[:3])
        raise DataError(f"no series can be trained: all {len(checked)} left out ({shown})")
    return Counter(found).most_common(1)[0][0]


def _usable(
    c: _Checked, dates: pd.Series, values: pd.Series, freq: str | None, season: int | None
) -> pd.Series | None:
    """A failed series' usable points on its own grid (see the module), None when too few."""
    if c.series is not None or c.unique_id == "":
        return None
    d, v = dates.iloc[c.positions].to_numpy(), values.iloc[c.positions].to_numpy(dtype=float)
    keep = ~pd.isna(d) & np.isfinite(v)
    points = pd.Series(v[keep], index=pd.DatetimeIndex(d[keep]))
    points = points[~points.index.duplicated(keep=False)].sort_index()
    if len(points) < MIN_POINTS:
        return None
    try:
        frequency = infer_frequency(pd.DatetimeIndex(points.index), freq, season)
    except FrequencyError:
        return None
    grid = frequency.grid(points.index[0], points.index[-1])
    points = points[points.index.isin(grid)]
    full = points if frequency.alias == "B" else points.reindex(grid)
    recent = _after_last_long_gap(full).interpolate(method="linear", limit_direction="both")
    if len(recent) < MIN_POINTS:
        return None
    recent.attrs["frequency"] = frequency
    return recent


def _after_last_long_gap(full: pd.Series) -> pd.Series:
    missing = full.isna().to_numpy()
    run, start = 0, 0
    for i, flag in enumerate(missing):  # one pass over a series' points, not the file's rows
        run = run + 1 if flag else 0
        if run > MAX_FILL_RUN:
            start = i + 1
    return full.iloc[start:]


def _entry(c: _Checked, usable: pd.Series | None, frequency: Frequency) -> Entry:
    if c.series is not None:
        return Entry(c.unique_id, OK, c.series)
    if usable is None:
        why = "" if c.unique_id == "" else f"; fewer than {MIN_POINTS} usable points for the floor"
        return Entry(c.unique_id, EXCLUDED, None, c.error + why)
    own: Frequency = usable.attrs["frequency"]
    if (own.name, own.season_length) != (frequency.name, frequency.season_length):
        return Entry(c.unique_id, EXCLUDED, None, f"{c.error}; its usable points are {own.name}")
    series = Series(
        ds=pd.DatetimeIndex(usable.index),
        y=usable.to_numpy(dtype=float),
        frequency=own,
        fingerprint=fingerprint(usable),
        repairs=(f"floor on {len(usable)} usable point(s)",),
    )
    return Entry(c.unique_id, FLOOR, series, c.error)
