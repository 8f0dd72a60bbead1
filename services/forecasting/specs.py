"""What a model is, for every family: its `Spec` (a family and, once fitted, the form chosen
for it, so that a backtest or a later promotion refits the same form on other data), its
`Forecast`, the `Fitted` protocol, and the default model (`default_spec`), whose combination
was chosen on M3's training data (README)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np

FAMILIES = ("ets", "ces", "theta", "standard_theta", "arima", "lightgbm", "seasonal_naive")
GLOBAL = "lightgbm"  # the member learned across a panel's series (`global_model.py`)
MEAN, MEDIAN = "mean", "median"  # the spec families of a combination of members
# Step by step over the members that have a forecast there (a global path may end first).
COMBINATIONS: dict[str, Callable[..., Any]] = {MEAN: np.nanmean, MEDIAN: np.nanmedian}
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

    def spread(self, horizon: int) -> np.ndarray:
        """The forecast's own standard deviation at each step (NaN where it has none)."""
        ...

    def state(self) -> dict[str, Any]: ...


def z(level: float) -> float:
    """The normal quantile of a central `level` interval: infinite where 0.5 + level / 2 rounds
    to 1 (as scipy's `norm.ppf` is), which the API refuses as a level naming no finite bound."""
    p = 0.5 + level / 2
    return math.inf if p >= 1 else NormalDist().inv_cdf(p)
