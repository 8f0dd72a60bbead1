"""Conformal intervals: how far a panel's forecasts really missed on its validation windows.

Each window's error at each step, divided by the model's own spread there (the members' analytic
standard deviation, `sigma`), is one draw of the model's normalised error. Pooled over the
panel's series, windows and steps, their quantiles say how wide an interval must be to hold what
it claims (split conformal prediction): a forecast's interval at level L is its mean
+- Q(L) * sigma(step). Pooling the steps lets one series with a few windows calibrate too, and
dividing by sigma keeps each series' and each step's own shape.

The quantiles are kept at `LEVELS` as ratios to the normal's (Q(L) / z(L)), so any level is
answered: between two kept levels the ratio is interpolated, beyond them it is carried on (the
normal's tail, scaled). A level the errors are too few to estimate (the finite-sample rule needs
more than 1 / (1 - L) of them) takes the ratio of the highest level they can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.forecasting.specs import z

LEVELS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)
MIN_ERRORS = 8  # fewer normalised errors calibrate nothing: the members' own intervals stand


@dataclass(frozen=True)
class Calibration:
    ratio: tuple[float, ...]  # Q(level) / z(level) at each of LEVELS
    errors: int  # how many normalised errors the ratios came from

    def quantile(self, level: float) -> float:
        """Q(level): how many sigmas the interval at `level` spans on each side."""
        return float(np.interp(level, LEVELS, self.ratio)) * z(level)

    def state(self) -> dict[str, Any]:
        return {"ratio": [round(r, 6) for r in self.ratio], "errors": self.errors}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Calibration:
        return cls(tuple(float(r) for r in state["ratio"]), int(state["errors"]))

    @classmethod
    def from_errors(cls, normalised: np.ndarray) -> Calibration | None:
        """From absolute errors over sigma (any shape; non-finite ones are left out); None when
        fewer than MIN_ERRORS remain."""
        errors = np.sort(np.abs(normalised[np.isfinite(normalised)]), axis=None)
        n = errors.size
        if n < MIN_ERRORS:
            return None
        ratios: list[float] = []
        for level in LEVELS:
            rank = math.ceil((n + 1) * level)  # the finite-sample conformal rank
            if rank <= n:
                ratios.append(float(errors[rank - 1]) / z(level))
            else:  # too few errors for this level: the highest estimable level's ratio
                ratios.append(ratios[-1] if ratios else float(errors[-1]) / z(level))
        return cls(tuple(ratios), n)


def normalised_errors(actual: np.ndarray, forecast: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """|actual - forecast| / sigma, step by step; NaN where sigma is not positive."""
    actual, forecast, sigma = (np.asarray(a, dtype=float) for a in (actual, forecast, sigma))
    out = np.full(actual.shape, np.nan)
    np.divide(np.abs(actual - forecast), sigma, out=out, where=sigma > 0)
    return out
