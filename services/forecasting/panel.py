"""The data as a panel of series, whatever its shape: a long CSV of many (`unique_id,ds,y`), each
series checked by the rules `data.py` applies to one; or a CSV without the series column, one
series checked strictly (any broken rule refuses the file, as it always has), a panel of one.

In a long CSV, a series that breaks a rule does not sink the others: it gets the floor model
(seasonal naive, naive when shorter than a season) on its usable points, or is left out when
fewer than three remain; either way its reason is kept. Usable points: rows with a date and a
finite value, no duplicated timestamp, on the grid, after the last gap of more than three points
(shorter gaps interpolated). Series whose frequencies differ are refused, naming the ids that
differ.
"""

from __future__ import annotations

import hashlib
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
    parse_csv,
    parse_dates,
    parse_values,
    regularise,
    validate,
)
from services.forecasting.frequency import Frequency, FrequencyError, infer_frequency
from services.forecasting.longcsv import Columns, parse_panel
from services.forecasting.source import quote

MAX_SERIES = 100_000
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
        return f"series {quote(self.unique_id)}: {self.reason}"


@dataclass(frozen=True)
class Panel:
    entries: tuple[Entry, ...]  # sorted by id
    frequency: Frequency
    rows: int
    fingerprint: str  # the same data gives the same fingerprint (`read_panel`)

    @property
    def trainable(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.series is not None)

    def count(self, status: str) -> int:
        return sum(e.status == status for e in self.entries)


def read_panel(
    raw: bytes, columns: Columns, freq: str | None = None, season_length: int | None = None
) -> Panel:
    """The CSV's series, checked (see the module). The fingerprint of a CSV of one series is its
    series' (`data.fingerprint`: dates and values); of a long CSV, a digest of every trainable
    series' id and fingerprint."""
    if columns.is_long(raw):
        frame = parse_panel(raw, columns.id_column, columns.ds_column, columns.y_column)
        return validate_panel(frame, freq, season_length)
    frame = parse_csv(raw, columns.ds_column, columns.y_column)
    series = validate(frame, freq, season_length)
    entry = Entry(columns.series_id, OK, series)
    return Panel((entry,), series.frequency, len(frame), series.fingerprint)


def _digest(entries: tuple[Entry, ...]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        if entry.series is not None:
            digest.update(f"{entry.unique_id}\0{entry.series.fingerprint}\n".encode())
    return digest.hexdigest()[:16]


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
    panel = Panel(entries, frequency, len(frame), _digest(entries))
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
            + ", ".join(map(quote, ids[:5]))
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
        shown = "; ".join(f"series {quote(c.unique_id)}: {c.error}" for c in checked[:3])
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
