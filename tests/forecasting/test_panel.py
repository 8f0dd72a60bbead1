"""A long CSV of many series: every series checked by the single-series rules, a bad one kept
apart with its reason, the file refused only when it must be."""

import numpy as np
import pandas as pd
import pytest

from services.forecasting import longcsv
from services.forecasting import panel as panel_module
from services.forecasting.data import DataError, load_series
from services.forecasting.longcsv import Columns, header, parse_long, parse_panel
from services.forecasting.panel import EXCLUDED, FLOOR, OK, read_panel, validate_panel
from tests.conftest import AIRLINE
from tests.panels import bad_series, m3_monthly, monthly


def load(frame: pd.DataFrame, **kwargs):
    return validate_panel(parse_panel(frame.to_csv(index=False).encode(), "unique_id"), **kwargs)


def test_real_series_of_different_lengths_and_starts_load_each_on_its_own_calendar():
    frame = m3_monthly(12)
    panel = load(frame)
    assert [e.unique_id for e in panel.entries] == sorted(frame["unique_id"].unique())
    assert {e.status for e in panel.entries} == {OK} and panel.rows == len(frame)
    assert panel.frequency.alias == "MS" and panel.frequency.season_length == 12
    first = frame[frame["unique_id"] == panel.entries[0].unique_id]
    series = panel.entries[0].series
    assert len(series) == len(first) and series.ds[0] == pd.Timestamp(first["ds"].iloc[0])
    assert load(frame.sample(frac=1.0, random_state=3)).fingerprint == panel.fingerprint


def test_bad_series_get_the_floor_or_are_left_out_each_with_its_reason_and_line():
    frame = pd.concat([m3_monthly(5), bad_series()], ignore_index=True)
    panel = load(frame)
    by_id = {e.unique_id: e for e in panel.entries}
    assert by_id["too-short"].status == EXCLUDED and by_id["too-short"].series is None
    assert "too few" in by_id["too-short"].reason
    assert by_id["constant"].status == FLOOR and "constant" in by_id["constant"].reason
    assert len(by_id["constant"].series) == 30
    duplicated = by_id["duplicated"]
    lines = frame.index[frame["unique_id"] == "duplicated"] + 2
    assert duplicated.status == FLOOR
    assert f"duplicate timestamp(s) at line {lines[5]}" in duplicated.reason
    assert f"line {lines[-1]}" in duplicated.reason
    assert duplicated.message.startswith("series 'duplicated': column 'ds'")
    assert len(duplicated.series) == 36  # both rows of the clashing month dropped, then filled
    assert panel.count(OK) == 5 and panel.count(FLOOR) == 2 and panel.count(EXCLUDED) == 1


def test_a_junk_value_names_its_series_and_line_and_the_rest_of_the_series_gets_the_floor():
    frame = monthly("a", np.arange(30.0) % 7 + 1)
    frame["y"] = frame["y"].astype(object)
    frame.loc[4, "y"] = "n/a?"
    frame = pd.concat([frame, monthly("b", np.arange(30.0) % 5 + 1)], ignore_index=True)
    entry = load(frame).entries[0]
    assert entry.status == FLOOR
    assert entry.message == "series 'a': column 'y': 1 non-numeric value(s) at line 6 ('n/a?')"


def test_a_series_with_a_long_missing_stretch_gets_the_floor_on_the_points_after_it():
    values = np.arange(40.0) % 12 + 1
    frame = monthly("gappy", values).drop(index=range(5, 15))
    panel = load(pd.concat([frame, monthly("ok", values)], ignore_index=True))
    gappy = panel.entries[0]
    assert gappy.status == FLOOR and "too many gaps" in gappy.reason
    assert gappy.series.ds[0] == pd.Timestamp("2001-04-01") and len(gappy.series) == 25


def test_different_frequencies_are_refused_naming_the_ids_that_differ():
    quarterly = pd.DataFrame(
        {
            "unique_id": "q1",
            "ds": pd.date_range("2000-01-01", periods=20, freq="QS").strftime("%Y-%m-%d"),
            "y": np.arange(20.0) % 4 + 1,
        }
    )
    with pytest.raises(DataError, match=r"different frequencies.*3 are monthly.*quarterly.*'q1'"):
        load(pd.concat([m3_monthly(3), quarterly], ignore_index=True))


def test_a_file_whose_every_series_is_unusable_is_refused_naming_them():
    with pytest.raises(DataError, match=r"no series can be trained.*series 'x': .*too few"):
        load(pd.concat([monthly("x", [1.0]), monthly("y", [2.0, 3.0])], ignore_index=True))


def test_a_huge_series_id_is_quoted_cut_short():
    uid = "s" * 5_000
    with pytest.raises(DataError, match=r"series 's{40}'\.\.\. \(5,000 characters\): ") as caught:
        load(monthly(uid, [1.0]))
    assert len(str(caught.value)) < 300


def test_the_limits_on_series_and_rows_are_named(monkeypatch):
    frame = m3_monthly(3)
    monkeypatch.setattr(panel_module, "MAX_SERIES", 2)
    with pytest.raises(DataError, match="3 series, more than the limit of 2"):
        load(frame)
    monkeypatch.setattr(longcsv, "MAX_ROWS", 100)
    with pytest.raises(DataError, match=f"{len(frame):,} rows, more than the limit of 100"):
        load(frame)


def test_a_file_without_the_id_column_is_not_a_panel_and_a_missing_column_is_named():
    assert "unique_id" not in header(b"ds,y\n2020-01-01,1\n")
    assert header(b"\xef\xbb\xbfunique_id, ds ,y\r\n") == ["unique_id", "ds", "y"]
    with pytest.raises(DataError, match=r"missing column\(s\) 'y'"):
        parse_panel(b"unique_id,ds,value\na,2020-01-01,1\n", "unique_id")


def test_a_csv_without_the_id_column_is_a_panel_of_its_one_series_named_by_series_id():
    panel = read_panel(AIRLINE.read_bytes(), Columns(series_id="airline"))
    (entry,) = panel.entries
    series = load_series(str(AIRLINE))
    assert (entry.unique_id, entry.status, panel.rows) == ("airline", OK, 144)
    np.testing.assert_array_equal(entry.series.y, series.y)
    assert panel.frequency == series.frequency and panel.fingerprint == series.fingerprint


def test_a_csv_of_one_series_keeps_the_strict_rules_where_a_long_one_gives_the_floor():
    frame = monthly("a", np.arange(30.0) % 7 + 1)
    frame["y"] = frame["y"].astype(object)
    frame.loc[4, "y"] = "n/a?"
    assert read_panel(frame.to_csv(index=False).encode(), Columns()).entries[0].status == FLOOR
    one = frame.drop(columns="unique_id").to_csv(index=False).encode()
    with pytest.raises(DataError, match=r"non-numeric value\(s\) at line 6 \('n/a\?'\)"):
        read_panel(one, Columns())


def test_every_row_of_either_shape_reads_as_unique_id_ds_y_with_its_line():
    long = parse_long(monthly("a", [1.0, 2.0]).to_csv(index=False).encode(), Columns())
    one = parse_long(b"when,value\n2020-01-01,5\n", Columns("id", "s", "when", "value"))
    for frame in (long, one):
        assert list(frame.columns) == ["unique_id", "ds", "y"] and frame.index[0] == 2
    assert one.to_dict("records") == [{"unique_id": "s", "ds": "2020-01-01", "y": "5"}]
