"""The families statsforecast estimates (ETS, CES, both Theta models, ARIMA), one class each:
training estimates the family (`estimate`), keeps only its final state and the spread of its
forecast errors, and extends them with NumPy alone (`mean`) after a JSON round trip, so serving
never imports a training library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from services.forecasting.specs import LEVEL, Forecast, Spec, z


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


STATE_MODELS: dict[str, type[StateModel]] = {
    c.family: c for c in (ETS, CES, Theta, StandardTheta, ARIMA)
}
