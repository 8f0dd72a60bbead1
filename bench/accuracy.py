"""Training quality and time on the development set: our selection vs the seed's pmdarima
`auto_arima` vs seasonal naive, each on a chronological 80/20 split scored by SMAPE."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench.datasets import DEV_SET
from services.forecasting import metrics
from services.forecasting.models import Spec, fit
from services.forecasting.selection import select


def split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cut = round(0.8 * y.size)
    return y[:cut], y[cut:]


def ours(train: np.ndarray, m: int, h: int) -> np.ndarray:
    selection = select(train, m, h)  # as `mlstack train --horizon h` would
    return fit(selection.best.spec, train, m).forecast(h).mean


def pmdarima(train: np.ndarray, m: int, h: int) -> np.ndarray:
    import pmdarima as pm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pm.auto_arima(
            train,
            seasonal=m > 1,
            m=m,
            stepwise=True,
            information_criterion="aic",
            start_p=1,
            start_q=1,
            max_p=5,
            max_q=5,
            max_P=2,
            max_Q=2,
            suppress_warnings=True,
            error_action="ignore",
        )
    return np.asarray(model.predict(n_periods=h))


def naive(train: np.ndarray, m: int, h: int) -> np.ndarray:
    return fit(Spec("seasonal_naive"), train, m).forecast(h).mean


METHODS = {"ours": ours, "pmdarima": pmdarima, "naive": naive}


def main(
    out: Path | None = None, methods: tuple[str, ...] = tuple(METHODS)
) -> list[dict[str, object]]:
    rows = []
    for dataset in DEV_SET:
        series = dataset.load()
        train, test = split(series.y)
        m = series.frequency.season_length
        row: dict[str, object] = {"series": dataset.name, "n": len(series), "m": m, "h": test.size}
        for name in methods:
            start = time.perf_counter()
            forecast = METHODS[name](train, m, test.size)
            row[f"{name}_seconds"] = round(time.perf_counter() - start, 2)
            row[f"{name}_smape"] = round(metrics.smape(test, forecast), 3)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    if out:
        out.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
