"""Fit a model (`fit`) and rebuild a fitted one from its JSON state (`from_state`): a family
statsforecast estimates (`statemodels.py`), the seasonal naive floor, or a combination of
members. Every fitted model keeps only its final state and forecasts with NumPy alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.forecasting.calibration import Calibration
from services.forecasting.specs import COMBINATIONS, GLOBAL, LEVEL, Fitted, Forecast, Spec, z
from services.forecasting.statemodels import STATE_MODELS


@dataclass(frozen=True)
class SeasonalNaive:
    """Repeat the last season; the spread grows with the number of seasons ahead. The floor:
    it fits any series of two or more points."""

    spec: Spec
    last_season: np.ndarray
    sigma: float

    def forecast(self, horizon: int, level: float = LEVEL) -> Forecast:
        steps = np.arange(horizon)
        mean = self.last_season[steps % self.last_season.size]
        half = z(level) * self.spread(horizon)
        return Forecast(mean, mean - half, mean + half)

    def spread(self, horizon: int) -> np.ndarray:
        return self.sigma * np.sqrt(np.arange(horizon) // self.last_season.size + 1)

    def state(self) -> dict[str, Any]:
        return {"last_season": self.last_season.tolist(), "sigma": self.sigma}

    @classmethod
    def fit(cls, spec: Spec, y: np.ndarray, m: int) -> SeasonalNaive:
        m = m if y.size > m else 1
        residuals = y[m:] - y[:-m]
        sigma = float(np.std(residuals, ddof=1)) if residuals.size > 1 else 0.0
        return cls(spec, y[-m:].copy(), sigma)


@dataclass(frozen=True)
class GlobalPath:
    """The member learned across a panel's series (`global_model.py`), kept as its forecast
    path: serving never loads the booster. Beyond the path, and for intervals, it has nothing to
    say (NaN), and a combination goes on without it there."""

    spec: Spec
    path: np.ndarray

    def forecast(self, horizon: int, level: float = LEVEL) -> Forecast:
        mean = np.full(horizon, np.nan)
        known = min(horizon, self.path.size)
        mean[:known] = self.path[:known]
        return Forecast(mean, mean, mean)

    def spread(self, horizon: int) -> np.ndarray:
        return np.full(horizon, np.nan)

    def state(self) -> dict[str, Any]:
        return {"path": [float(f"{v:.7g}") for v in self.path]}


@dataclass(frozen=True)
class Combination:
    """The mean or median (`spec.family`) of its members' forecasts, step by step over the
    members that have one there. Calibrated (`calibration.py`), its interval is the mean +- the
    calibrated number of the members' mean spread; otherwise the mean or median of their
    bounds (the versions trained before calibration)."""

    spec: Spec
    members: tuple[Fitted, ...]
    calibration: Calibration | None = None

    def forecast(self, horizon: int, level: float = LEVEL) -> Forecast:
        parts = [m.forecast(horizon, level) for m in self.members]
        combine = COMBINATIONS[self.spec.family]
        mean = combine([p.mean for p in parts], axis=0)
        if self.calibration is None:
            bounds = (combine([getattr(p, k) for p in parts], axis=0) for k in ("lower", "upper"))
            return Forecast(mean, *bounds)
        half = self.calibration.quantile(level) * self.spread(horizon)
        return Forecast(mean, mean - half, mean + half)

    def spread(self, horizon: int) -> np.ndarray:
        spreads = np.array([m.spread(horizon) for m in self.members])
        known = np.isfinite(spreads).any(axis=0)
        out = np.zeros(horizon)
        out[known] = np.nanmean(spreads[:, known], axis=0)
        return out

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "members": [{"spec": m.spec.to_dict(), "state": m.state()} for m in self.members]
        }
        if self.calibration is not None:
            state["calibration"] = self.calibration.state()
        return state


class FitFailed(ValueError):
    pass


def fit(spec: Spec, y: np.ndarray, season_length: int, steps: int = 12) -> Fitted:
    """Estimate `spec` on `y`; a family without a form chooses one. `steps`: how many steps
    ahead the fitted model keeps its own interval widths for (the horizon at least). A
    combination keeps the members that fit, and fails only when none does."""
    y = np.asarray(y, dtype=float)
    if spec.family == "seasonal_naive":
        return SeasonalNaive.fit(spec, y, season_length)
    if spec.family in COMBINATIONS:
        members: list[Fitted] = []
        errors = []
        for member in spec.members:
            try:
                members.append(fit(member, y, season_length, steps))
            except FitFailed as exc:
                errors.append(str(exc))
        if not members:
            raise FitFailed("; ".join(errors))
        fitted_spec = Spec(spec.family, members=tuple(f.spec for f in members))
        return Combination(fitted_spec, tuple(members))
    cls = STATE_MODELS[spec.family]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, form = cls.estimate(y, season_length, spec.form)
            params = cls.params_of(model.model_)
            sigma = cls.spread_of(model, params, steps)
    except Exception as exc:  # statsforecast raises bare Exceptions on data it cannot fit
        raise FitFailed(f"{spec.label} failed to fit {y.size} points: {exc}") from exc
    fitted = cls(Spec(spec.family, form), params, sigma)
    if not np.all(np.isfinite(fitted.forecast(steps).mean)):
        raise FitFailed(f"{fitted.spec.label} produced non-finite forecasts")
    return fitted


def from_state(spec: Spec, state: dict[str, Any]) -> Fitted:
    """Rebuild a fitted model from `Fitted.state()` without re-estimating anything."""
    if spec.family == "seasonal_naive":
        last = np.asarray(state["last_season"], dtype=float)
        return SeasonalNaive(spec, last, float(state["sigma"]))
    if spec.family == GLOBAL:
        return GlobalPath(spec, np.asarray(state["path"], dtype=float))
    if spec.family in COMBINATIONS:
        members = tuple(from_state(Spec.from_dict(m["spec"]), m["state"]) for m in state["members"])
        found = state.get("calibration")
        return Combination(spec, members, None if found is None else Calibration.from_state(found))
    sigma = np.asarray(state["sigma"], dtype=float)
    return STATE_MODELS[spec.family](spec, state["params"], sigma)
