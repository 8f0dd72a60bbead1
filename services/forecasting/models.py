"""Model families. A `Spec` says how to fit on any window; `fit` turns it into a `Fitted`, which
forecasts with intervals and round-trips through JSON (`state` / `from_state`), so the logged
model holds parameters and the series, not a pickled statsmodels object.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.stats import norm

FAMILIES = ("seasonal_naive", "ets", "arima", "theta", "combo")


@dataclass(frozen=True)
class Spec:
    family: str
    log: bool = False
    order: tuple[int, int, int] | None = None  # arima
    seasonal_order: tuple[int, int, int, int] | None = None  # arima
    trend: str | None = None  # arima: "n"/"c"/"t"; ets: "add" or None
    damped: bool = False  # ets
    seasonal: str | None = None  # ets: "add" or None
    members: tuple[Spec, ...] = ()  # combo

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; known: {', '.join(FAMILIES)}")

    @property
    def label(self) -> str:
        suffix = "+log" if self.log else ""
        if self.family == "arima":
            assert self.order and self.seasonal_order
            p, d, q = self.order
            P, D, Q, m = self.seasonal_order
            seasonal = f"({P},{D},{Q},{m})" if m > 1 else ""
            return f"arima({p},{d},{q}){seasonal}[{self.trend}]{suffix}"
        if self.family == "ets":
            trend = {None: "N", "add": "A"}[self.trend] + ("d" if self.damped else "")
            season = {None: "N", "add": "A"}[self.seasonal]
            return f"ets(A,{trend},{season}){suffix}"
        if self.family == "combo":
            return "combo[" + " + ".join(m.label for m in self.members) + "]"
        return self.family + suffix

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["members"] = [m.to_dict() for m in self.members]
        return {k: v for k, v in data.items() if v not in (None, False, [], ())}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        data = dict(data)
        data["members"] = tuple(cls.from_dict(m) for m in data.get("members", ()))
        for key in ("order", "seasonal_order"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Spec:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Forecast:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class Fitted(Protocol):
    @property
    def spec(self) -> Spec: ...

    def forecast(self, horizon: int, level: float = 0.95) -> Forecast: ...

    def state(self) -> dict[str, Any]: ...


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def transform(y: np.ndarray, log: bool) -> np.ndarray:
    """The series on the scale a spec is fitted on."""
    return np.log(y) if log else np.asarray(y, dtype=float)


def _untransform(fc: Forecast, log: bool) -> Forecast:
    if not log:
        return fc
    return Forecast(np.exp(fc.mean), np.exp(fc.lower), np.exp(fc.upper))


@dataclass(frozen=True)
class NaiveFit:
    """Repeat the last season; the spread grows with the number of seasons ahead."""

    spec: Spec
    last_season: np.ndarray
    sigma: float

    def forecast(self, horizon: int, level: float = 0.95) -> Forecast:
        m = self.last_season.size
        steps = np.arange(horizon)
        mean = self.last_season[steps % m]
        half = _z(level) * self.sigma * np.sqrt(steps // m + 1)
        return Forecast(mean, mean - half, mean + half)

    def state(self) -> dict[str, Any]:
        return {"last_season": self.last_season.tolist(), "sigma": self.sigma}


def _fit_naive(spec: Spec, y: np.ndarray, m: int) -> NaiveFit:
    m = m if y.size > m else 1
    residuals = y[m:] - y[:-m]
    return NaiveFit(
        spec, y[-m:].copy(), float(np.std(residuals, ddof=1)) if residuals.size > 1 else 0.0
    )


@dataclass
class StatsmodelsFit:
    """ARIMA, ETS or Theta: parameters plus the (transformed) series they were fitted on."""

    spec: Spec
    y: np.ndarray
    season_length: int
    params: np.ndarray | None = None
    _results: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._results is None:
            self._results = _rebuild(self.spec, self.y, self.season_length, self.params)

    def forecast(self, horizon: int, level: float = 0.95) -> Forecast:
        z = self.y
        if self.spec.family == "theta":
            mean = np.asarray(self._results.forecast(horizon))
            bounds = np.asarray(self._results.prediction_intervals(horizon, alpha=1 - level))
            fc = Forecast(mean, bounds[:, 0], bounds[:, 1])
        elif self.spec.family == "arima":
            frame = self._results.get_forecast(horizon).summary_frame(alpha=1 - level)
            fc = Forecast(
                *(frame[k].to_numpy() for k in ("mean", "mean_ci_lower", "mean_ci_upper"))
            )
        else:
            n = z.size
            frame = self._results.get_prediction(start=n, end=n + horizon - 1).summary_frame(
                alpha=1 - level
            )
            fc = Forecast(*(frame[k].to_numpy() for k in ("mean", "pi_lower", "pi_upper")))
        return _untransform(fc, self.spec.log)

    def state(self) -> dict[str, Any]:
        return {
            "y": self.y.tolist(),
            "season_length": self.season_length,
            "params": None if self.params is None else self.params.tolist(),
        }


@dataclass(frozen=True)
class ComboFit:
    """The mean of its members' forecasts and interval bounds."""

    spec: Spec
    members: tuple[Fitted, ...]

    def forecast(self, horizon: int, level: float = 0.95) -> Forecast:
        parts = [m.forecast(horizon, level) for m in self.members]
        return Forecast(
            *(np.mean([getattr(p, k) for p in parts], axis=0) for k in ("mean", "lower", "upper"))
        )

    def state(self) -> dict[str, Any]:
        return {"members": [{"spec": m.spec.to_dict(), "state": m.state()} for m in self.members]}


def _sarimax(spec: Spec, z: np.ndarray, simple_differencing: bool = False) -> Any:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    return SARIMAX(
        z,
        order=spec.order,
        seasonal_order=spec.seasonal_order,
        trend=spec.trend,
        simple_differencing=simple_differencing,
    )


def _ets(spec: Spec, z: np.ndarray, m: int) -> Any:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = spec.seasonal if m > 1 else None
    # ETS prediction intervals need an indexed series (statsmodels reads `.index` from them).
    import pandas as pd

    return ETSModel(
        pd.Series(z),
        error="add",
        trend=spec.trend,
        damped_trend=spec.damped,
        seasonal=seasonal,
        seasonal_periods=m if seasonal else None,
        # Long seasons make every initial seasonal state a parameter; the heuristic start is
        # as good there and an order of magnitude faster.
        initialization_method="estimated" if m <= 12 else "heuristic",
    )


def _rebuild(spec: Spec, z: np.ndarray, m: int, params: np.ndarray | None) -> Any:
    """Results for given parameters without re-estimating them (a Kalman filter pass);
    Theta has no free parameters to store, and its closed-form fit is cheap."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.family == "arima":
            return _sarimax(spec, z).filter(params)
        if spec.family == "theta":
            return _theta(z, m).fit()
        return _ets(spec, z, m).smooth(params)


def _theta(z: np.ndarray, m: int) -> Any:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    deseason = m > 1 and z.size >= 2 * m
    return ThetaModel(
        z,
        period=m if deseason else 1,
        deseasonalize=deseason,
        method="additive" if deseason else "auto",
    )


def fit(spec: Spec, y: np.ndarray, season_length: int) -> Fitted:
    """Estimate `spec` on `y` (original scale)."""
    y = np.asarray(y, dtype=float)
    if spec.family == "seasonal_naive":
        return _fit_naive(spec, y, season_length)
    if spec.family == "combo":
        return ComboFit(spec, tuple(fit(m, y, season_length) for m in spec.members))
    z = transform(y, spec.log)
    if spec.family == "theta":
        return StatsmodelsFit(spec, z, season_length)  # fitted in __post_init__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.family == "arima":
            # Estimated on the differenced series (as the order search does): the state vector
            # loses the d + D*m differencing states, so this is several times faster on seasonal
            # data. The same parameters then drive the full model, which forecasts in levels.
            params = _sarimax(spec, z, simple_differencing=True).fit(
                disp=False, maxiter=100, return_params=True
            )
            return StatsmodelsFit(spec, z, season_length, np.asarray(params))
        else:
            results = _ets(spec, z, season_length).fit(disp=False, maxiter=200)
    return StatsmodelsFit(spec, z, season_length, np.asarray(results.params), results)


def from_state(spec: Spec, state: dict[str, Any]) -> Fitted:
    """Rebuild a fitted model from `Fitted.state()` without re-estimating anything."""
    if spec.family == "seasonal_naive":
        return NaiveFit(spec, np.asarray(state["last_season"], dtype=float), float(state["sigma"]))
    if spec.family == "combo":
        return ComboFit(
            spec, tuple(from_state(Spec.from_dict(m["spec"]), m["state"]) for m in state["members"])
        )
    params = None if state.get("params") is None else np.asarray(state["params"], dtype=float)
    return StatsmodelsFit(
        spec, np.asarray(state["y"], dtype=float), int(state["season_length"]), params
    )
