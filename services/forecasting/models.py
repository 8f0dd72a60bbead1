"""Model families, one class each. Training estimates a family with statsforecast (`fit`); the
result keeps only its final state, and extends it with NumPy alone (`forecast`) after a JSON
round trip (`state` / `from_state`), so serving never imports a training library.

A `Spec` names a family and, once fitted, the form chosen for it (ETS components, CES season
type, ARIMA orders), so that a backtest or a later promotion refits the same form on other data.
The default model (`default_spec`) combines ETS, CES and both Theta models, and AutoARIMA where
its seasonal search is cheap; the combination was chosen on M3's training data (README).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, ClassVar, Protocol

import numpy as np

FAMILIES = ("ets", "ces", "theta", "standard_theta", "arima", "seasonal_naive")
MEAN, MEDIAN = "mean", "median"  # the spec families of a combination of members
COMBINATIONS: dict[str, Callable[..., Any]] = {MEAN: np.mean, MEDIAN: np.median}
ARIMA_MAX_SEASON = 4  # AutoARIMA's seasonal search costs several times the rest beyond this
LEVEL = 0.95  # the level whose interval widths a fitted model keeps (`spread_of`)


@dataclass(frozen=True)
class Spec:
    family: str
    form: str | None = None  # None: let the family choose its form on the data
    members: tuple[Spec, ...] = ()  # a combination's

    def __post_init__(self) -> None:
        if self.family not in (*FAMILIES, *COMBINATIONS):
            raise ValueError(f"unknown model family {self.family!r}; known: {', '.join(FAMILIES)}")

    @property
    def label(self) -> str:
        if self.family in COMBINATIONS:
            return f"{self.family}[" + " + ".join(m.label for m in self.members) + "]"
        return f"{self.family}({self.form})" if self.form else self.family

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["members"] = [m.to_dict() for m in self.members]
        return {k: v for k, v in data.items() if v not in (None, [])}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        members = tuple(cls.from_dict(m) for m in data.get("members", ()))
        return cls(data["family"], data.get("form"), members)

    @classmethod
    def from_json(cls, text: str) -> Spec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def of(cls, families: Sequence[str], combine: str = MEAN) -> Spec:
        """The model for a list of families: the one family, or the mean (or median) of several
        (seasonal naive is the floor, not a member)."""
        members = [f for f in families if f != "seasonal_naive"] or ["seasonal_naive"]
        if len(members) == 1:
            return cls(members[0])
        return cls(combine, members=tuple(cls(f) for f in members))


def default_spec(season_length: int) -> Spec:
    """The default model: the mean of ETS, CES, both Theta models and AutoARIMA up to quarterly
    seasons; beyond, without ARIMA, their median. Each was the best of nine combinations on the
    last horizon of every M3 training series of its season length (README, accuracy)."""
    families = ("ets", "ces", "theta", "standard_theta")
    if season_length <= ARIMA_MAX_SEASON:
        return Spec.of((*families, "arima"), MEAN)
    return Spec.of(families, MEDIAN)


@dataclass(frozen=True)
class Forecast:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class Fitted(Protocol):
    @property
    def spec(self) -> Spec: ...

    def forecast(self, horizon: int, level: float = LEVEL) -> Forecast: ...

    def state(self) -> dict[str, Any]: ...


def z(level: float) -> float:
    """The normal quantile of a central `level` interval: infinite where 0.5 + level / 2 rounds
    to 1 (as scipy's `norm.ppf` is), which the API refuses as a level naming no finite bound."""
    p = 0.5 + level / 2
    return math.inf if p >= 1 else NormalDist().inv_cdf(p)


@dataclass(frozen=True)
class StateModel:
    """A fitted family: its final state, and the spread of its forecast errors by step.

    `sigma[k]` is the family's own forecast standard deviation `k + 1` steps ahead, read from
    its `LEVEL` interval when fitted; intervals at other levels scale it as a normal would, and
    beyond the stored steps it grows like a random walk's."""

    spec: Spec
    params: dict[str, Any]
    sigma: np.ndarray

    family: ClassVar[str]

    def forecast(self, horizon: int, level: float = LEVEL) -> Forecast:
        mean = self.mean(horizon)
        half = z(level) * self.spread(horizon)
        return Forecast(mean, mean - half, mean + half)

    def mean(self, horizon: int) -> np.ndarray:
        raise NotImplementedError

    def spread(self, horizon: int) -> np.ndarray:
        k = self.sigma.size
        steps = np.arange(1, horizon + 1)
        far = self.sigma[-1] * np.sqrt(np.maximum(steps, k) / k)
        return np.where(steps <= k, self.sigma[np.minimum(steps, k) - 1], far)

    def state(self) -> dict[str, Any]:
        return {"params": self.params, "sigma": self.sigma.tolist()}

    @classmethod
    def estimate(cls, y: np.ndarray, m: int, form: str | None) -> tuple[Any, str]:
        """statsforecast's model, fitted on `y`, and the form it has."""
        raise NotImplementedError

    @classmethod
    def params_of(cls, model: dict[str, Any]) -> dict[str, Any]:
        """What `mean` needs from statsforecast's fitted model dict, as JSON."""
        raise NotImplementedError

    @classmethod
    def spread_of(cls, model: Any, params: dict[str, Any], steps: int) -> np.ndarray:
        """`sigma` for `steps` steps, by default read from statsforecast's `LEVEL` interval."""
        pct = round(100 * LEVEL)
        fc = model.predict(h=steps, level=[pct])
        sigma = (np.asarray(fc[f"hi-{pct}"]) - np.asarray(fc[f"lo-{pct}"])) / (2 * z(LEVEL))
        return np.maximum(np.nan_to_num(sigma, nan=0.0), 0.0)


class ETS(StateModel):
    """statsforecast's AutoETS (additive or multiplicative error and season, damped trend)."""

    family = "ets"

    @classmethod
    def estimate(cls, y: np.ndarray, m: int, form: str | None) -> tuple[Any, str]:
        from statsforecast.models import AutoETS

        model = AutoETS(season_length=m) if form is None else _fixed_ets(form, m)
        model.fit(y)
        return model, model.model_["components"][:4]

    @classmethod
    def params_of(cls, model: dict[str, Any]) -> dict[str, Any]:
        _, trend, season, damped = model["components"][:4]
        return {
            "trend": trend,
            "season": season,
            "phi": float(model["par"][3]) if damped == "D" else 1.0,
            "m": int(model["m"]),
            "x": model["states"][-1].tolist(),
        }

    def mean(self, horizon: int) -> np.ndarray:
        p = self.params
        x, m, phi = np.asarray(p["x"], dtype=float), p["m"], p["phi"]
        has_trend = p["trend"] != "N"
        level, slope = x[0], (x[1] if has_trend else 0.0)
        steps = np.arange(1, horizon + 1)
        # statsforecast damps the first two steps alike (phi, 2 phi, 2 phi + phi^2, ...); kept
        # so that served forecasts are the ones it made and the benchmark measured.
        damping = steps * 1.0 if phi == 1.0 else phi + np.cumsum(phi ** (steps - 1)) - 1.0
        fc = level + damping * slope if has_trend else np.full(horizon, level)
        if p["season"] != "N":
            season = x[1 + has_trend : 1 + has_trend + m][(m - steps) % m]
            fc = fc + season if p["season"] == "A" else fc * season
        return np.asarray(fc, dtype=float)


def _fixed_ets(form: str, m: int) -> Any:
    from statsforecast.models import AutoETS

    return AutoETS(season_length=m, model=form[:3], damped=form[3] == "D")


class CES(StateModel):
    """statsforecast's AutoCES: complex exponential smoothing, with no, simple, partial or full
    seasonality (season types N, S, P, F)."""

    family = "ces"

    @classmethod
    def estimate(cls, y: np.ndarray, m: int, form: str | None) -> tuple[Any, str]:
        from statsforecast.models import AutoCES

        model = AutoCES(season_length=m, model=form or "Z")
        model.fit(y)
        return model, model.model_["seasontype"]

    @classmethod
    def params_of(cls, model: dict[str, Any]) -> dict[str, Any]:
        m, n, season = int(model["m"]), int(model["n"]), model["seasontype"]
        rows = m if season != "N" else 1
        return {
            "season": season,
            "m": rows,
            "alpha": [float(model["par"]["alpha_0"]), float(model["par"]["alpha_1"])],
            "beta": [float(model["par"]["beta_0"]), float(model["par"]["beta_1"])],
            "x": model["states"][n : n + rows].tolist(),
        }

    def mean(self, horizon: int) -> np.ndarray:
        return self.path(self.params, horizon)

    @classmethod
    def spread_of(cls, model: Any, params: dict[str, Any], steps: int) -> np.ndarray:
        """Analytic, as for any linear innovations model: sigma * sqrt(1 + sum of c_j^2), c_j
        the forecast's response j steps after one unit of innovation. (statsforecast simulates
        5,000 paths instead, which took most of CES's fitting time.)"""
        response = (cls.path(params, steps, shock=True) - cls.path(params, steps))[1:]
        variance = 1 + np.concatenate([[0.0], np.cumsum(response**2)])
        return np.sqrt(float(model.model_["sigma2"]) * variance)

    @staticmethod
    def path(p: dict[str, Any], horizon: int, shock: bool = False) -> np.ndarray:
        """The forecast from the final state; `shock` adds one unit of innovation at the first
        step (what `spread_of` measures the response to)."""
        season, m = p["season"], p["m"]
        (a0, a1), (b0, b1) = p["alpha"], p["beta"]
        start = np.asarray(p["x"], dtype=float)
        s = np.zeros((m + horizon, start.shape[1]))
        s[:m] = start
        fc = np.zeros(horizon)
        for i in range(m, m + horizon):
            prev = i - m if season == "S" else i - 1  # the complex level pair this step uses
            fc[i - m] = s[prev, 0] + (s[i - m, 2] if season in ("P", "F") else 0.0)
            e = 1.0 if shock and i == m else 0.0
            s[i, 0] = s[prev, 0] - (1 - a1) * s[prev, 1] + (a0 - a1) * e
            s[i, 1] = s[prev, 0] + (1 - a0) * s[prev, 1] + (a0 + a1) * e
            if season == "P":
                s[i, 2] = s[i - m, 2] + b0 * e
            elif season == "F":
                s[i, 2] = s[i - m, 2] - (1 - b1) * s[i - m, 3] + (b0 - b1) * e
                s[i, 3] = s[i - m, 2] + (1 - b0) * s[i - m, 3] + (b0 + b1) * e
        return fc


class Theta(StateModel):
    """statsforecast's DynamicOptimizedTheta, on the series deseasonalised by a classical
    decomposition when its seasonality is significant."""

    family = "theta"
    dynamic: ClassVar[bool] = True  # the trend line is re-estimated as each forecast comes in

    @classmethod
    def estimate(cls, y: np.ndarray, m: int, form: str | None) -> tuple[Any, str]:
        from statsforecast.models import DynamicOptimizedTheta

        model = DynamicOptimizedTheta(season_length=m)
        model.fit(y)
        return model, "DOTM"

    @classmethod
    def params_of(cls, model: dict[str, Any]) -> dict[str, Any]:
        params = {
            "x": model["states"][-1][:4].tolist(),
            "n": int(model["n"]),
            "alpha": float(model["par"]["alpha"]),
            "theta": float(model["par"]["theta"]),
        }
        if model.get("decompose"):
            params["season"] = np.asarray(model["seas_forecast"]["mean"]).tolist()
            params["multiplicative"] = model["decomposition_type"] == "multiplicative"
        return params

    def mean(self, horizon: int) -> np.ndarray:
        p = self.params
        level, mean_y, a_n, b_n = p["x"]
        n, alpha, theta = p["n"], p["alpha"], p["theta"]
        fc = np.zeros(horizon)
        for k in range(horizon):
            i = n + k  # each step is fed back as the next observation
            mu = level + (1 - 1 / theta) * (
                a_n * (1 - alpha) ** i + b_n * (1 - (1 - alpha) ** (i + 1)) / alpha
            )
            fc[k] = mu
            next_mean = (i * mean_y + mu) / (i + 1)
            if self.dynamic:
                b_n = ((i - 1) * b_n + 6 * (mu - mean_y) / (i + 1)) / (i + 2)
                a_n = next_mean - b_n * (i + 2) / 2
            level, mean_y = alpha * mu + (1 - alpha) * level, next_mean
        if "season" in p:
            season = np.resize(np.asarray(p["season"], dtype=float), horizon)
            fc = fc * season if p["multiplicative"] else fc + season
        return fc


class StandardTheta(Theta):
    """statsforecast's Theta: the standard theta model (theta 2, the trend line fixed at the
    fit), deseasonalised as `Theta` is."""

    family = "standard_theta"
    dynamic = False

    @classmethod
    def estimate(cls, y: np.ndarray, m: int, form: str | None) -> tuple[Any, str]:
        from statsforecast.models import Theta as StatsforecastTheta

        model = StatsforecastTheta(season_length=m)
        model.fit(y)
        return model, "STM"


class ARIMA(StateModel):
    """statsforecast's AutoARIMA; the form is `p,d,q,P,D,Q,mean,drift`."""

    family = "arima"

    @classmethod
    def estimate(cls, y: np.ndarray, m: int, form: str | None) -> tuple[Any, str]:
        from statsforecast.models import ARIMA as FixedARIMA
        from statsforecast.models import AutoARIMA

        model: Any
        if form is None:
            model = AutoARIMA(season_length=m)
        else:
            p, d, q, sp, sd, sq, mean, drift = (int(v) for v in form.split(","))
            model = FixedARIMA(
                order=(p, d, q),
                seasonal_order=(sp, sd, sq),
                season_length=m,
                include_mean=bool(mean),
                include_drift=bool(drift),
            )
        model.fit(y)
        p, q, sp, sq, _, d, sd = model.model_["arma"]
        coef = model.model_["coef"]
        flags = int("intercept" in coef), int("drift" in coef)
        return model, ",".join(str(v) for v in (p, d, q, sp, sd, sq, *flags))

    @classmethod
    def params_of(cls, model: dict[str, Any]) -> dict[str, Any]:
        state = model["model"]
        return {
            "T": np.asarray(state["T"]).tolist(),
            "Z": np.asarray(state["Z"]).tolist(),
            "a": np.asarray(state["a"]).tolist(),
            "intercept": float(model["coef"].get("intercept", 0.0)),
            "drift": float(model["coef"].get("drift", 0.0)),
            "n": len(model["x"]),
        }

    def mean(self, horizon: int) -> np.ndarray:
        p = self.params
        t, z_, a = (np.asarray(p[k], dtype=float) for k in ("T", "Z", "a"))
        fc = np.zeros(horizon)
        for k in range(horizon):
            a = t @ a
            fc[k] = z_ @ a
        times = np.arange(p["n"] + 1, p["n"] + horizon + 1)
        return fc + p["intercept"] + p["drift"] * times


@dataclass(frozen=True)
class SeasonalNaive:
    """Repeat the last season; the spread grows with the number of seasons ahead. The floor:
    it fits any series of two or more points."""

    spec: Spec
    last_season: np.ndarray
    sigma: float

    def forecast(self, horizon: int, level: float = LEVEL) -> Forecast:
        m = self.last_season.size
        steps = np.arange(horizon)
        mean = self.last_season[steps % m]
        half = z(level) * self.sigma * np.sqrt(steps // m + 1)
        return Forecast(mean, mean - half, mean + half)

    def state(self) -> dict[str, Any]:
        return {"last_season": self.last_season.tolist(), "sigma": self.sigma}

    @classmethod
    def fit(cls, spec: Spec, y: np.ndarray, m: int) -> SeasonalNaive:
        m = m if y.size > m else 1
        residuals = y[m:] - y[:-m]
        sigma = float(np.std(residuals, ddof=1)) if residuals.size > 1 else 0.0
        return cls(spec, y[-m:].copy(), sigma)


@dataclass(frozen=True)
class Combination:
    """The mean or median (`spec.family`) of its members' forecasts and interval bounds."""

    spec: Spec
    members: tuple[Fitted, ...]

    def forecast(self, horizon: int, level: float = LEVEL) -> Forecast:
        parts = [m.forecast(horizon, level) for m in self.members]
        combine = COMBINATIONS[self.spec.family]
        return Forecast(
            *(combine([getattr(p, k) for p in parts], axis=0) for k in ("mean", "lower", "upper"))
        )

    def state(self) -> dict[str, Any]:
        return {"members": [{"spec": m.spec.to_dict(), "state": m.state()} for m in self.members]}


STATE_MODELS: dict[str, type[StateModel]] = {
    c.family: c for c in (ETS, CES, Theta, StandardTheta, ARIMA)
}


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
    if spec.family in COMBINATIONS:
        members = tuple(from_state(Spec.from_dict(m["spec"]), m["state"]) for m in state["members"])
        return Combination(spec, members)
    sigma = np.asarray(state["sigma"], dtype=float)
    return STATE_MODELS[spec.family](spec, state["params"], sigma)
