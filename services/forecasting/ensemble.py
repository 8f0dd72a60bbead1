"""Which combination of members a panel's own data asks for.

Every candidate is the mean of some members. Each is scored on the panel's validation windows
(the last horizons of each series' training part; the future is never looked at): its forecast
of each window is the mean of its members' forecasts there (of those a series has), and its
loss the window's SMAPE. The candidate with the lowest mean loss over every series and window is
chosen, but only over the robust default by a margin that shrinks as the evidence grows
(`margin`): a panel of one short series keeps the default unless the windows speak clearly,
while a panel of hundreds follows them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.forecasting import metrics

STATISTICAL = ("ets", "ces", "theta", "standard_theta", "arima")
GLOBAL = "lightgbm"
DEFAULT = "statistical"
MARGIN = 0.10  # the relative margin over the default with three windows; smaller with more


def candidates(members: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The candidates among `members` (the families a run fits): every member together, the
    statistical ones (the default), each of those without ARIMA, and each statistical member
    alone."""
    stats = tuple(f for f in STATISTICAL if f in members)
    both = (*stats, GLOBAL) if GLOBAL in members else stats
    found = {
        DEFAULT: stats,
        "all": both,
        "all but arima": tuple(f for f in both if f != "arima"),
        "statistical but arima": tuple(f for f in stats if f != "arima"),
        **{f: (f,) for f in stats},
    }
    unique: dict[tuple[str, ...], str] = {}
    for name, chosen in found.items():  # the first name of each distinct, non-empty set
        if chosen and chosen not in unique:
            unique[chosen] = name
    return {name: chosen for chosen, name in unique.items()}


@dataclass(frozen=True)
class Window:
    """One validation window of one series: what came true, each member's forecast of it, and
    the series' history before it (for MASE)."""

    actual: np.ndarray
    forecasts: Mapping[str, np.ndarray]
    history: np.ndarray


def combine(window: Window, members: Sequence[str]) -> np.ndarray | None:
    """The mean of the members' forecasts the window has; None when it has none of them."""
    parts = [window.forecasts[f] for f in members if f in window.forecasts]
    return np.mean(parts, axis=0) if parts else None


@dataclass(frozen=True)
class Choice:
    name: str
    members: tuple[str, ...]
    losses: dict[str, float]  # each candidate's mean validation SMAPE
    windows: int  # the windows scored
    reason: str
    candidates: dict[str, tuple[str, ...]]  # each candidate's members, by name


def margin(windows: int) -> float:
    """The relative improvement over the default a candidate needs: MARGIN with three windows
    (a series alone), shrinking as one over the square root of their number."""
    return MARGIN * math.sqrt(3 / max(windows, 1))


def choose(windows: Sequence[Window], members: Sequence[str]) -> Choice:
    """The candidate the windows ask for (see the module); the default when there are none."""
    options = candidates(members)
    default = next(iter(options))  # DEFAULT, or the first candidate where no member is statistical
    losses = {name: _loss(windows, chosen) for name, chosen in options.items()}
    scored = {name: loss for name, loss in losses.items() if math.isfinite(loss)}
    if default not in scored:
        reason = "no validation window to choose on: the default"
        return Choice(default, options[default], losses, len(windows), reason, options)
    best = min(scored, key=lambda name: (scored[name], name != default))
    needed = margin(len(windows))
    if best != default and scored[best] < (1 - needed) * scored[default]:
        reason = (
            f"{best} {scored[best]:.3f} < {default} {scored[default]:.3f} by more than "
            f"{needed:.1%} over {len(windows)} windows"
        )
        return Choice(best, options[best], losses, len(windows), reason, options)
    reason = (
        f"{default} kept: {best} {scored[best]:.3f} is not better than {scored[default]:.3f} "
        f"by {needed:.1%} over {len(windows)} windows"
        if best != default
        else f"{default} is best over {len(windows)} windows"
    )
    return Choice(default, options[default], losses, len(windows), reason, options)


def _loss(windows: Sequence[Window], members: Sequence[str]) -> float:
    losses = []
    for window in windows:
        forecast = combine(window, members)
        if forecast is not None:
            losses.append(metrics.smape(window.actual, forecast))
    return float(np.mean(losses)) if losses else math.nan
