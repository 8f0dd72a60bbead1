"""The accuracy bench's series sets and its command line (the slow methods are not run here)."""

from bench import accuracy, quality
from bench.datasets import DEV_SET, HOLDOUT_SET


def test_holdout_series_are_real_series_other_than_the_development_set():
    assert not {d.name for d in DEV_SET} & {d.name for d in HOLDOUT_SET}
    assert len(HOLDOUT_SET) >= 8


def test_every_holdout_series_loads_offline_with_its_calendar():
    seasons = {d.name: d.load().frequency.season_length for d in HOLDOUT_SET}
    assert seasons["wineind"] == 12 and seasons["woolyrnq"] == 4 and seasons["lynx"] == 1
    assert seasons["co2"] == 52 and seasons["taylor"] == 7


def test_the_set_and_series_to_run_can_be_chosen(tmp_path):
    rows = accuracy.main(tmp_path / "rows.json", ("naive",), "holdout", ("lynx", "austres"))
    assert [(r["set"], r["series"]) for r in rows] == [("holdout", "austres"), ("holdout", "lynx")]
    assert (tmp_path / "rows.json").exists()


def test_quality_targets_are_reported_for_each_set():
    row = {"ours_smape": 8.0, "pmdarima_smape": 10.0, "naive_smape": 9.0,
           "ours_seconds": 1.0, "pmdarima_seconds": 4.0}  # fmt: skip
    worse = {**row, "ours_smape": 12.0}
    targets = quality.targets([{**row, "set": "dev"}, {**worse, "set": "holdout"}])
    assert [t.name.split(":")[0] for t in targets] == ["dev"] * 2 + ["holdout"] * 2
    assert [t.met for t in targets] == [True, True, False, True]
    assert [t.bound for t in targets][::2] == [quality.BEFORE["dev"], quality.BEFORE["holdout"]]
    assert "holdout" in quality.quality_table([{**row, "set": "holdout", "series": "x",
                                                "n": 1, "m": 1, "h": 1}])  # fmt: skip
