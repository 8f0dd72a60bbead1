"""A global LightGBM model learned across a panel's series (Nixtla's mlforecast): forecasts at
validation cuts, each from its own fit on the data before its cut, and the final fit's forecast
path; fitted on this machine, or on a Dask cluster through mlforecast's distributed support.

Fitting only: serving reads the paths precomputed here, so only the trainer imports this."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.forecasting.global_features import LGBM_PARAMS, Features

MODEL = "lgbm"  # the one model's column in mlforecast's predictions


@dataclass(frozen=True)
class GlobalForecasts:
    windows: dict[int, dict[str, np.ndarray]]  # cut -> {unique_id: `horizon` points after it}
    paths: dict[str, np.ndarray]  # unique_id -> `path` points after the series' end
    model_text: str  # the final fit's booster in LightGBM's text format; "" when none was fitted
    seconds: float


@dataclass(frozen=True)
class Fit:
    forecasts: dict[str, np.ndarray]
    model_text: str


# Fits one frame with mlforecast's arguments and forecasts that many steps.
Fitter = Callable[[pd.DataFrame, dict[str, Any], int], Fit]


def forecast_panel(
    series: Mapping[str, np.ndarray],
    last_ds: Mapping[str, pd.Timestamp],
    freq: str,
    season_length: int,
    horizon: int,
    cuts: Sequence[int],
    path: int,
    scheduler: str | None = None,
    threads: int = 1,
) -> GlobalForecasts:
    """One fit per cut (each series long enough without its last `cut` points, forecast
    `horizon` points), then the final fit on all the data, forecast `path` points. With
    `scheduler`, a Dask scheduler's address, every fit runs on that cluster. `threads` is
    LightGBM's per process (one by default, as the trainer's one per worker process: on a busy
    machine, two OpenMP threads fitted a small panel 20 times slower than one)."""
    if min([horizon, path, *cuts]) < 1:
        given = f"horizon {horizon}, path {path}, cuts {list(cuts)}"
        raise ValueError(f"horizon, path and every cut must be at least 1 ({given})")
    started = time.perf_counter()
    features = Features.for_panel(freq, season_length)
    model = {**LGBM_PARAMS, "n_jobs": threads}
    if scheduler is None:
        fits = _fit_all(series, last_ds, features, horizon, cuts, path, fitter_here(model))
    else:
        from distributed import Client

        from services.forecasting.global_dask import fitter_on

        with Client(scheduler) as client:
            fitter = fitter_on(client, model)
            fits = _fit_all(series, last_ds, features, horizon, cuts, path, fitter)
    final = fits.pop(0)
    return GlobalForecasts(
        windows={cut: fit.forecasts for cut, fit in fits.items()},
        paths=final.forecasts,
        model_text=final.model_text,
        seconds=time.perf_counter() - started,
    )


def _fit_all(
    series: Mapping[str, np.ndarray],
    last_ds: Mapping[str, pd.Timestamp],
    features: Features,
    horizon: int,
    cuts: Sequence[int],
    path: int,
    fit: Fitter,
) -> dict[int, Fit]:
    """Each cut's fit, and the final one under 0. A fit sees nothing after its cut, not even
    through the choice of target transform; one with no series long enough is empty."""
    fits = {}
    for cut, steps in {**{cut: horizon for cut in cuts}, 0: path}.items():
        frame = long_frame(series, last_ds, features, cut)
        if frame.empty:
            fits[cut] = Fit({}, "")
            continue
        positive = bool((frame["y"] > 0).all())
        fits[cut] = fit(frame, features.pipeline_args(positive), steps)
    return fits


def long_frame(
    series: Mapping[str, np.ndarray],
    last_ds: Mapping[str, pd.Timestamp],
    features: Features,
    cut: int,
) -> pd.DataFrame:
    """mlforecast's `unique_id, ds, y` of each series still long enough for the features once its
    last `cut` points are removed."""
    frames = []
    for uid, values in series.items():
        kept = len(values) - cut
        if kept < features.min_length:
            continue
        ds = features.dates(last_ds[uid], len(values))[:kept]
        frames.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": values[:kept]}))
    if not frames:
        return pd.DataFrame(columns=["unique_id", "ds", "y"])
    return pd.concat(frames, ignore_index=True)


def by_series(predictions: pd.DataFrame, steps: int) -> dict[str, np.ndarray]:
    """mlforecast's predictions as one array per series; a series whose forecast is incomplete
    or not finite is left out."""
    ordered = predictions.sort_values(["unique_id", "ds"], kind="stable")
    found = {}
    for uid, values in ordered.groupby("unique_id", sort=False)[MODEL]:
        forecast = values.to_numpy(dtype=float)
        if len(forecast) == steps and np.isfinite(forecast).all():
            found[str(uid)] = forecast
    return found


def fitter_here(model: dict[str, Any]) -> Fitter:
    """A fitter running mlforecast's local pipeline with LightGBM (`model`'s parameters) here."""

    def fit(frame: pd.DataFrame, args: dict[str, Any], steps: int) -> Fit:
        from lightgbm import LGBMRegressor
        from mlforecast import MLForecast

        forecaster = MLForecast(models={MODEL: LGBMRegressor(**model)}, **args)
        forecaster.fit(frame)
        fitted: Any = forecaster.models_[MODEL]
        return Fit(by_series(forecaster.predict(steps), steps), fitted.booster_.model_to_string())

    return fit
