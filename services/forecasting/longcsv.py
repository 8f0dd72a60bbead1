"""Read a CSV into `unique_id, ds, y` strings: a long CSV of many series in one pass (Arrow), or a
CSV without the series column as the one series `Columns.series_id`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pandas as pd

from services.forecasting.data import DataError, parse_csv

MAX_ROWS = 10_000_000


@dataclass(frozen=True)
class Columns:
    """Where a CSV keeps its series: the series column of a long CSV of many (without it, the
    CSV is one series, named `series_id`), and the date and value columns."""

    id_column: str = "unique_id"
    series_id: str = "y"
    ds_column: str = "ds"
    y_column: str = "y"

    def is_long(self, raw: bytes) -> bool:
        """Whether the CSV has the series column (else it is one series)."""
        return self.id_column in header(raw)


def parse_long(raw: bytes, columns: Columns) -> pd.DataFrame:
    """Every row as `unique_id, ds, y` strings, CSV line numbers as index."""
    if columns.is_long(raw):
        return parse_panel(raw, columns.id_column, columns.ds_column, columns.y_column)
    frame = parse_csv(raw, columns.ds_column, columns.y_column)
    return frame.assign(unique_id=columns.series_id)[["unique_id", "ds", "y"]]


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
