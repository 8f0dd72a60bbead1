"""Training quality and time: our model vs the seed's pmdarima `auto_arima` vs seasonal naive,
each on a chronological 80/20 split scored by SMAPE, on the development set, the holdout set,
or both (`python -m bench.accuracy [OUT] [--set dev|holdout|both] [--methods ...]`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench.datasets import SETS, Dataset
from bench.report import write_json
from services.forecasting import backtest, metrics
from services.forecasting.models import fit
from services.forecasting.panelfit import select
from services.forecasting.specs import Spec
from services.trainer.config import TrainConfig


def split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cut = round(0.8 * y.size)
    return y[:cut], y[cut:]


def ours(train: np.ndarray, m: int, h: int) -> np.ndarray:
    """As `mlstack train --horizon h` would: on its window of recent points."""
    train = train[-backtest.window(train.size, h, m, TrainConfig().max_train_points) :]
    return select(train, m, h).fitted.forecast(h).mean


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
    out: Path | None = None,
    methods: tuple[str, ...] = tuple(METHODS),
    which: str = "both",
    only: tuple[str, ...] = (),
) -> list[dict[str, object]]:
    _import_libraries()
    rows = []
    for set_name in ("dev", "holdout") if which == "both" else (which,):
        for dataset in SETS[set_name]:
            if not only or dataset.name in only:
                rows.append(_run(set_name, dataset, methods))
    if out:
        write_json(out, rows)
    return rows


def _import_libraries() -> None:
    """Import what each method uses before timing any: otherwise the first series' times carry
    one-off imports (about 3.5 s for pmdarima, 2 s for statsforecast here)."""
    import pmdarima  # noqa: F401
    import statsforecast.models  # noqa: F401


def _run(set_name: str, dataset: Dataset, methods: tuple[str, ...]) -> dict[str, object]:
    series = dataset.load()
    train, test = split(series.y)
    m = series.frequency.season_length
    row: dict[str, object] = {
        "set": set_name, "series": dataset.name, "n": len(series), "m": m, "h": test.size,
    }  # fmt: skip
    for method in methods:
        start = time.perf_counter()
        forecast = METHODS[method](train, m, test.size)
        row[f"{method}_seconds"] = round(time.perf_counter() - start, 2)
        row[f"{method}_smape"] = round(metrics.smape(test, forecast), 3)
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy")
    parser.add_argument("out", nargs="?", type=Path, help="write the rows here as JSON")
    parser.add_argument("--set", dest="which", choices=("dev", "holdout", "both"), default="both")
    parser.add_argument("--methods", nargs="+", choices=tuple(METHODS), default=tuple(METHODS))
    parser.add_argument("--only", nargs="+", default=(), help="these series only")
    args = parser.parse_args()
    main(args.out, tuple(args.methods), args.which, tuple(args.only))
