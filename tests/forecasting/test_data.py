import http.server
import threading
from functools import partial
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest

from services.forecasting.data import DataError, load_series, parse_csv, validate
from services.forecasting.frequency import infer_frequency
from services.forecasting.source import read_bytes
from tests.conftest import AIRLINE


def csv(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def monthly(n: int = 36, start: str = "2020-01-01") -> pd.DataFrame:
    ds = pd.date_range(start, periods=n, freq="MS")
    y = 100 + np.arange(n) + 10 * np.sin(np.arange(n) * 2 * np.pi / 12)
    return pd.DataFrame({"ds": ds.strftime("%Y-%m-%d"), "y": y.round(3).astype(str)})


def text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def test_bundled_airline_series_loads_as_monthly_with_season_12():
    series = load_series(str(AIRLINE))
    assert len(series) == 144
    assert series.frequency.alias == "MS" and series.frequency.season_length == 12
    assert series.ds[0] == pd.Timestamp("1949-01-01") and series.y[-1] == 432
    assert series.repairs == ()


def test_file_uri_and_plain_path_give_the_same_fingerprint():
    assert load_series(f"file://{AIRLINE}").fingerprint == load_series(str(AIRLINE)).fingerprint


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("ds,y\n", "header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary|not UTF-8"),
        (b"ds,y\n2020-01-01,\xff\xfe\n", "not UTF-8"),
        ("ds;y\n2020-01-01;1\n2020-02-01;2\n", "missing column.*'ds'.*delimiter"),
        ("date,value\n2020-01-01,1\n", "missing column"),
    ],
    ids=["empty", "header-only", "binary", "non-utf8", "wrong-delimiter", "wrong-columns"],
)
def test_unusable_files_are_refused_with_the_reason(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load_series(csv(tmp_path, content))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"not found: .*nope\.csv"):
        load_series(str(tmp_path / "nope.csv"))


def test_unparseable_dates_name_the_line_and_value(tmp_path):
    frame = monthly()
    frame.loc[4, "ds"] = "not-a-date"
    with pytest.raises(DataError, match=r"1 unparseable date\(s\) at line 6 \('not-a-date'\)"):
        load_series(csv(tmp_path, text(frame)))


def test_mixed_date_formats_are_refused_naming_each_format_and_where(tmp_path):
    frame = monthly()
    frame.loc[10, "ds"] = "11/01/2020"
    with pytest.raises(
        DataError,
        match=r"in more than one format.*but 1 date\(s\) are not: "
        r"%m/%d/%Y at line 12 \('11/01/2020'\)",
    ):
        load_series(csv(tmp_path, text(frame)))


def test_valid_iso_dates_after_a_first_date_of_another_format_are_not_called_unparseable(
    tmp_path,
):
    frame = monthly()
    frame.loc[0, "ds"] = "01/01/2020"
    with pytest.raises(DataError) as caught:
        load_series(csv(tmp_path, text(frame)))
    message = str(caught.value)
    assert "read as %m/%d/%Y, the format of line 2 ('01/01/2020')" in message
    assert "35 date(s) are not: %Y-%m-%d at line 3 ('2020-02-01')" in message
    assert "unparseable" not in message and "YYYY-MM-DD" in message


def test_an_error_quotes_a_huge_value_cut_short(tmp_path):
    frame = monthly()
    frame.loc[3, "y"] = "x" + "9" * 100_000
    with pytest.raises(
        DataError, match=r"line 5 \('x9{39}'\.\.\. \(100,001 characters\)\)"
    ) as caught:
        load_series(csv(tmp_path, text(frame)))
    assert len(str(caught.value)) < 200


def test_a_directory_given_as_data_is_named_a_directory(tmp_path):
    with pytest.raises(DataError, match=r"data path .* is a directory: give the CSV file in it"):
        load_series(str(tmp_path))
    with pytest.raises(DataError, match=r"is a directory"):
        load_series(tmp_path.as_uri())


def test_non_numeric_values_name_the_line(tmp_path):
    frame = monthly()
    frame.loc[2, "y"] = "abc"
    with pytest.raises(DataError, match=r"non-numeric value\(s\) at line 4 \('abc'\)"):
        load_series(csv(tmp_path, text(frame)))


def test_infinite_values_are_refused(tmp_path):
    frame = monthly()
    frame.loc[7, "y"] = "inf"
    with pytest.raises(DataError, match=r"infinite value\(s\) at line 9"):
        load_series(csv(tmp_path, text(frame)))


def test_duplicate_timestamps_are_refused_with_both_lines(tmp_path):
    frame = monthly()
    frame.loc[5, "ds"] = frame.loc[4, "ds"]
    with pytest.raises(DataError, match=r"duplicate timestamp\(s\) at line 6 .*line 7"):
        load_series(csv(tmp_path, text(frame)))


def test_rows_out_of_order_are_sorted_and_reported(tmp_path):
    frame = monthly().sample(frac=1.0, random_state=1)
    series = load_series(csv(tmp_path, text(frame)))
    assert series.ds.is_monotonic_increasing
    assert any("sorted" in r for r in series.repairs)


def test_a_few_missing_values_are_interpolated_and_reported(tmp_path):
    frame = monthly(48)
    frame.loc[10, "y"] = ""
    frame = frame.drop(index=20)  # a missing timestamp
    series = load_series(csv(tmp_path, text(frame)))
    assert len(series) == 48 and np.isfinite(series.y).all()
    assert series.repairs == (
        "interpolated 1 missing timestamp(s) and 1 missing value(s) at 2020-11-01, 2021-09-01",
    )


def test_large_gaps_are_refused_saying_how_many_and_where(tmp_path):
    frame = monthly(48).drop(index=range(20, 26))
    with pytest.raises(
        DataError, match=r"too many gaps.*6 missing timestamp\(s\).*2021-09-01.*longest run 6"
    ):
        load_series(csv(tmp_path, text(frame)))


def test_irregular_spacing_is_refused(tmp_path):
    frame = monthly()
    frame.loc[3, "ds"] = "2020-04-17"
    with pytest.raises(DataError, match=r"off the monthly grid .*2020-04-17"):
        load_series(csv(tmp_path, text(frame)))


def test_a_series_shorter_than_two_seasons_is_accepted(tmp_path):
    assert len(load_series(csv(tmp_path, text(monthly(20))))) == 20


def test_two_points_are_refused_naming_the_minimum(tmp_path):
    with pytest.raises(DataError, match=r"too few points: 2, need at least 3 for a monthly"):
        load_series(csv(tmp_path, "ds,y\n2020-01-01,5\n2020-02-01,6\n"), freq="MS")


def test_one_row_is_refused(tmp_path):
    with pytest.raises(DataError, match="too few points"):
        load_series(csv(tmp_path, "ds,y\n2020-01-01,5\n"))


def test_a_constant_series_is_refused(tmp_path):
    frame = monthly()
    frame["y"] = "7"
    with pytest.raises(DataError, match="constant"):
        load_series(csv(tmp_path, text(frame)))


def test_configurable_column_names(tmp_path):
    frame = monthly().rename(columns={"ds": "month", "y": "sales"})
    series = validate(parse_csv(read_bytes(csv(tmp_path, text(frame))), "month", "sales"))
    assert len(series) == 36


@pytest.mark.parametrize(
    ("alias", "expected", "season"),
    [
        ("h", "h", 24),
        ("D", "D", 7),
        ("B", "B", 5),
        ("W-SUN", "W-SUN", 52),
        ("MS", "MS", 12),
        ("ME", "ME", 12),
        ("QS-JAN", "QS-JAN", 4),
        ("QE-DEC", "QE-DEC", 4),
        ("YS-JAN", "YS-JAN", 1),
    ],
)
def test_frequency_and_season_length_are_inferred_even_with_a_gap(alias, expected, season):
    index = pd.date_range("2001-01-01", periods=60, freq=alias)
    for idx in (index, index.delete(7)):
        freq = infer_frequency(idx)
        assert freq.alias.split("-")[0] == expected.split("-")[0] and freq.season_length == season
        assert freq.grid(index[0], index[-1]).equals(index)


def test_frequency_and_season_length_can_be_overridden():
    freq = infer_frequency(pd.date_range("2001-01-01", periods=60, freq="D"), "D", 365)
    assert freq.season_length == 365


def test_reads_from_s3_through_an_s3_compatible_endpoint(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint.url)
    boto3.client("s3", endpoint_url=s3_endpoint.url).put_object(
        Bucket=s3_endpoint.bucket, Key="series/airline.csv", Body=AIRLINE.read_bytes()
    )
    series = load_series(f"s3://{s3_endpoint.bucket}/series/airline.csv")
    assert series.fingerprint == load_series(str(AIRLINE)).fingerprint


def test_a_missing_s3_object_is_a_clear_error(s3_endpoint, monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint.url)
    with pytest.raises(DataError, match=r"could not read s3://mlstack-data/absent.csv: NoSuchKey"):
        load_series(f"s3://{s3_endpoint.bucket}/absent.csv")


def test_reads_over_http():
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(AIRLINE.parent))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/airline.csv"
        assert len(load_series(url)) == 144
        with pytest.raises(DataError, match="could not download"):
            load_series(url.replace("airline", "absent"))
    finally:
        server.shutdown()


def test_each_frequency_kind_has_one_name_season_and_default_horizon():
    from services.forecasting.frequency import Frequency

    assert (Frequency("MS", 12).name, Frequency("MS", 12).default_horizon) == ("monthly", 12)
    assert Frequency("QS-OCT", 4).default_horizon == 8 and Frequency("W-SUN", 52).name == "weekly"
    assert Frequency("2D", 3).default_horizon == 6  # unknown kinds: two seasons


def test_validation_properties_hold_for_any_row_order():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from services.forecasting.data import parse_csv, validate

    base = pd.read_csv(AIRLINE, dtype=str)
    reference = validate(parse_csv(AIRLINE.read_bytes()))

    @settings(max_examples=25, deadline=None)
    @given(st.permutations(range(len(base))))
    def check(order):
        shuffled = base.iloc[list(order)].to_csv(index=False).encode()
        series = validate(parse_csv(shuffled))
        assert series.fingerprint == reference.fingerprint
        np.testing.assert_array_equal(series.y, reference.y)

    check()


def test_validation_names_the_line_of_any_junk_value():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from services.forecasting.data import parse_csv, validate

    junk = st.text(
        alphabet=st.characters(whitelist_categories=("L",)), min_size=1, max_size=8
    ).filter(lambda s: s.lower() not in {"na", "nan", "null", "none", "inf", "infinity", "e"})

    @settings(max_examples=25, deadline=None)
    @given(st.integers(min_value=0, max_value=143), junk)
    def check(row, value):
        frame = pd.read_csv(AIRLINE, dtype=str)
        frame.loc[row, "y"] = value
        with pytest.raises(DataError, match=rf"non-numeric value\(s\) at line {row + 2} "):
            validate(parse_csv(frame.to_csv(index=False).encode()))

    check()
