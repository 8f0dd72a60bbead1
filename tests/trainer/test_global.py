"""The trainer's panel step with the global member: learned across the series that trained,
its forecasts reaching the choice and each series' model, and its failure costing nothing."""

import logging

import numpy as np
import pandas as pd
import pytest

from services.forecasting.frequency import Frequency
from services.forecasting.specs import GLOBAL
from services.trainer import fit, run
from services.trainer.config import TrainConfig
from tests.forecasting.m3 import sample

MONTHLY = [s for s in sample(5) if s.type == "monthly"][:8]


def tasks(families=None, floor_reason=""):
    return [
        fit.Task(
            s.sn,
            s.x.astype(float),
            Frequency("MS", 12),
            pd.Timestamp("2000-01-01"),
            s.h,
            families,
            floor_reason if i == 0 else "",
        )
        for i, s in enumerate(MONTHLY)
    ]


def test_the_global_member_is_learned_on_the_trained_series_and_scored_in_the_choice():
    found = tasks(floor_reason="a rule broken")
    fittings = fit.fit_batch(found)
    learned = fit.learn_global(found, fittings, path=24)
    assert learned is not None and learned.model_text.startswith("tree")
    assert set(learned.paths) == {t.unique_id for t in found[1:]}  # not the floor's series
    assert all(path.size == 24 for path in learned.paths.values())
    results, panel_fit = fit.results(found, fittings, learned, None)
    assert np.isfinite(panel_fit.choice.losses["all"])  # its windows reached the choice
    assert results[found[0].unique_id].spec.family == "seasonal_naive"


def test_families_of_the_global_member_alone_give_each_series_that_member():
    found = tasks(families=(GLOBAL,))
    fittings = fit.fit_batch(found)
    learned = fit.learn_global(found, fittings, path=found[0].horizon)
    results, panel_fit = fit.results(found, fittings, learned, (GLOBAL,))
    assert panel_fit.choice.members == (GLOBAL,)
    for result in results.values():
        assert result.status == fit.TRAINED
        assert [m.family for m in result.spec.members] == [GLOBAL]


def test_a_run_without_the_global_member_in_its_families_learns_none():
    found = tasks(families=("ets",))
    assert fit.learn_global(found, fit.fit_batch(found[:2]), path=12) is None


def test_a_failing_global_model_is_left_out_and_every_series_still_trained(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise MemoryError("no room for the booster")

    monkeypatch.setattr(fit, "forecast_panel", broken)
    found = tasks()[:3]
    fittings = fit.fit_batch(found)
    with caplog.at_level(logging.WARNING, "mlstack.train"):
        learned = run._learn_global(TrainConfig(), found, fittings)
    assert learned is None and "the global model failed, left out" in caplog.text
    results, panel_fit = fit.results(found, fittings, learned, None)
    assert {r.status for r in results.values()} == {fit.TRAINED}
    assert all(GLOBAL not in [m.family for m in r.spec.members] for r in results.values())
    assert GLOBAL not in panel_fit.choice.members


@pytest.mark.parametrize("families", [None, ("ets", GLOBAL)])
def test_a_series_the_global_model_left_out_keeps_its_local_members(families):
    found = tasks(families)[:3]
    fittings = fit.fit_batch(found)
    learned = fit.learn_global(found, fittings, path=18)
    assert learned is not None
    uid = found[0].unique_id
    partial = type(learned)(learned.windows, {k: v for k, v in learned.paths.items() if k != uid},
                            learned.model_text, learned.seconds)  # fmt: skip
    results, _ = fit.results(found, fittings, partial, families)
    assert results[uid].status == fit.TRAINED
    assert GLOBAL not in [m.family for m in results[uid].spec.members]
