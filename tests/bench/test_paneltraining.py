"""The panel-training bench: M3 written as the trainer's panels, trained through the real trainer
against the session's MLflow server, and its table."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import m3, paneltables, paneltraining
from services.forecasting.longcsv import parse_panel
from services.forecasting.panel import validate_panel

SIX = 600  # every 600th M3 series: 2 yearly, 1 quarterly, 2 monthly, 1 other


def test_the_panels_are_the_trainers_format_one_per_kind_without_the_test_parts(tmp_path: Path):
    chosen = m3.series(SIX)
    paths = paneltraining.write_panels(chosen, tmp_path)
    assert sorted(paths) == sorted(m3.TYPES)
    for kind, path in paths.items():
        frame = pd.read_csv(path)
        assert list(frame.columns) == ["unique_id", "ds", "y"]
        for s in (s for s in chosen if s.type == kind):
            y = frame.loc[frame["unique_id"] == s.sn, "y"].to_numpy()
            assert len(y) == s.n and np.array_equal(y, np.asarray(s.x, dtype=float))
        panel = validate_panel(parse_panel(path.read_bytes(), "unique_id"), None, None)
        assert panel.frequency.alias.startswith(paneltraining.ALIASES[kind])
        assert all(e.status == "ok" for e in panel.entries)


def _m3_section(chosen: list) -> dict:
    """What the m3 section gives the panel bench: `ours` fitted as panels in-process, and rates."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1) as pool:
        ours = m3.ours(chosen, pool)
    rows = [{"series": s.sn, "type": s.type, "ours": ours[s.sn]} for s in chosen]
    rates = {"ours": 1.0, "scum": 2.4, "ets": 0.17, "arima": 2.2}
    return {"summary": {k: {"seconds_per_series": v} for k, v in rates.items()}, "_rows": rows}


def test_six_m3_series_train_through_the_trainer_as_the_m3_section_fits_them(
    tracking_uri: str, model_name: str
):
    chosen = m3.series(SIX)
    result = paneltraining.run(
        tracking_uri, m3_result=_m3_section(chosen), sizes=[(SIX, (2,))], name=model_name
    )
    trainings = result["trainings"]
    assert [(t["series"], t["workers"]) for t in trainings] == [(6, 2)]
    for t in trainings:
        assert len(t["runs"]) == 4 and t["floor"] == t["excluded"] == 0
        assert 0 < t["fit_seconds"] < t["seconds"]
    (accuracy,) = result["accuracy"]
    assert accuracy["trainer"]["failed"] == 0
    for key in ("smape", *(f"smape_{t}" for t in m3.TYPES)):
        assert accuracy["trainer"][key] == pytest.approx(accuracy["m3_section"][key], rel=1e-6)
    assert result["references"]["SCUM"] == pytest.approx(1 / 2.4)
    names = [t.name for t in result["_targets"]]
    assert names == [
        "panel training 6 series, 2 workers: series/s/core / SCUM's",
        "M3 6 panel-trained sMAPE / m3 section's",
    ]
    assert result["_targets"][1].met
    assert "trainer / this" in paneltables.panel_training_table(result)


def _training(series: int, workers: int, seconds: float) -> dict:
    return {"every": 10, "series": series, "workers": workers, "seconds": seconds,
            "fit_seconds": seconds - 10, "floor": 0, "excluded": 0, "runs": []}  # fmt: skip


def test_the_table_shows_each_size_and_worker_count_with_speed_up_scaling_and_references():
    smape = {"smape": 12.3, **{f"smape_{t}": 10.0 for t in m3.TYPES}, "failed": 0}
    result = {
        "cores": 2,
        "warm_s": 2.5,
        "trainings": [_training(301, 1, 310.0), _training(301, 2, 160.0), _training(3003, 2, 1700)],
        "accuracy": [
            {"every": 10, "series": 301, "workers": 2, "trainer": smape, "m3_section": smape}
        ],
        "references": {"SCUM": 0.41, "AutoETS": 6.0},
    }
    rows = {(r["series"], r["workers"]): r for r in paneltables.rates(result)}
    assert rows[(301, 2)]["speedup"] == pytest.approx(310 / 160)
    assert rows[(301, 2)]["per_core"] == pytest.approx(301 / 160 / 2)
    assert rows[(3003, 2)]["per_series_vs_sample"] == pytest.approx((1700 / 3003) / (160 / 301))
    assert rows[(3003, 2)]["speedup"] is None and rows[(301, 1)]["beyond_fitting_s"] == 10
    text = paneltables.panel_training_table(result)
    assert "trainer, 3003 series, 2 workers" in text and "SCUM" in text
    assert "m3 section, 301 series" in text and "(2 cores; " in text
    (target, accurate) = paneltables.targets(result)
    assert target.name.startswith("panel training 3003 series, 2 workers") and target.met
    assert accurate.measured == 1.0 and accurate.met
