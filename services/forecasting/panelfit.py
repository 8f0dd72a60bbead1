"""The panel's step after each series' members are fitted: add the global member, choose the
combination on every series' validation windows at once (`ensemble.choose`), calibrate its
intervals on the same windows (`calibration.py`), and build each series' model and scores.

A panel of one series goes the same way: its own windows choose and calibrate, with the margin
a single series needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.forecasting import backtest, calibration, ensemble
from services.forecasting.backtest import Backtest, Folds
from services.forecasting.calibration import Calibration
from services.forecasting.ensemble import Choice
from services.forecasting.global_model import GlobalForecasts
from services.forecasting.models import Combination, GlobalPath
from services.forecasting.selection import FLOOR, Members, WindowForecast, fit_members
from services.forecasting.specs import GLOBAL, LEVEL, MEAN, Fitted, Forecast, Spec, z

GLOBAL_FORM = "recursive"  # the global member's form: mlforecast's recursive strategy


@dataclass(frozen=True)
class GlobalMember:
    """The global member's forecasts: each cut's (the last `cut` points held out) and the
    final path, by series id (`global_model.GlobalForecasts`)."""

    windows: Mapping[int, Mapping[str, np.ndarray]]
    paths: Mapping[str, np.ndarray]
    horizon: int


def global_member(learned: GlobalForecasts | None, horizon: int) -> GlobalMember | None:
    """The global model's forecasts as the member a panel's step adds (None: none learned)."""
    return None if learned is None else GlobalMember(learned.windows, learned.paths, horizon)


@dataclass(frozen=True)
class SeriesFit:
    fitted: Fitted
    backtest: Backtest | None  # the model's scores on the validation windows
    naive_smape: float | None  # seasonal naive's on the same windows


@dataclass(frozen=True)
class PanelFit:
    choice: Choice
    calibration: Calibration | None
    series: dict[str, SeriesFit]


def finish(
    members: Mapping[str, Members],
    ys: Mapping[str, np.ndarray],
    season_length: int,
    global_member: GlobalMember | None = None,
    families: Sequence[str] | None = None,
) -> PanelFit:
    """`members` and `ys` by series id; `families`, when given, fixes the combination to their
    mean (no choice is made)."""
    full = {uid: _with_global(found, ys[uid], uid, global_member) for uid, found in members.items()}
    windows = [w for uid, found in full.items() for w in _validation(found, ys[uid])]
    present = sorted({f for found in full.values() for f in found.fitted if f != FLOOR})
    choice = _choose(windows, present, families)
    calibrated = _calibrate(full, ys, choice.members)
    series = {
        uid: _series_fit(found, ys[uid], season_length, choice, calibrated)
        for uid, found in full.items()
    }
    return PanelFit(choice, calibrated, series)


def select(y: np.ndarray, m: int, horizon: int, families: Sequence[str] | None = None) -> SeriesFit:
    """One series alone, as a panel of one (no global member): its model and scores."""
    return finish({"y": fit_members(y, m, horizon, families)}, {"y": y}, m, None, families).series[
        "y"
    ]


def global_windows(
    global_member: GlobalMember, uid: str, n: int, folds: Folds
) -> tuple[WindowForecast | None, ...]:
    """The global member's forecast of each of a series' windows (None where it has none)."""
    return tuple(_global_window(global_member, uid, n - origin, folds) for origin in folds.origins)


def _with_global(
    found: Members, y: np.ndarray, uid: str, global_member: GlobalMember | None
) -> Members:
    if global_member is None or uid not in global_member.paths:  # the floor's are never in it
        return found
    fitted = {
        **found.fitted,
        GLOBAL: GlobalPath(Spec(GLOBAL, GLOBAL_FORM), global_member.paths[uid]),
    }
    windows = dict(found.windows)
    if found.folds is not None:
        windows[GLOBAL] = global_windows(global_member, uid, y.size, found.folds)
    return Members(fitted, found.folds, windows, found.notes)


def _global_window(
    global_member: GlobalMember, uid: str, cut: int, folds: Folds
) -> WindowForecast | None:
    forecast = global_member.windows.get(cut, {}).get(uid)
    if forecast is None or folds.horizon != global_member.horizon:
        return None
    return WindowForecast(forecast[: folds.horizon], np.full(folds.horizon, np.nan))


def _validation(found: Members, y: np.ndarray) -> list[ensemble.Window]:
    if found.folds is None or found.floor_only:
        return []
    out = []
    for i, (history, actual) in enumerate(found.folds.split(y)):
        forecasts = {f: w.mean for f, w in found.window(i).items() if f != FLOOR}
        if forecasts:
            out.append(ensemble.Window(actual, forecasts, history))
    return out


def _choose(
    windows: list[ensemble.Window], present: Sequence[str], families: Sequence[str] | None
) -> Choice:
    if families is not None:
        chosen = tuple(f for f in families if f != FLOOR) or (FLOOR,)
        why = "the families asked for"
        return Choice("families", chosen, {}, len(windows), why, {"families": chosen})
    return ensemble.choose(windows, present)


def _window_forecasts(
    found: Members, chosen: Sequence[str]
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """The combination's mean and spread of each window (None where no chosen member has one)."""
    if found.folds is None:
        return []
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for i in range(len(found.folds.origins)):
        parts = [w for f, w in found.window(i).items() if f in chosen]
        if not parts:
            out.append(None)
            continue
        mean = np.mean([p.mean for p in parts], axis=0)
        out.append((mean, _mean_spread(np.array([p.spread for p in parts]))))
    return out


def _mean_spread(spreads: np.ndarray) -> np.ndarray:
    """The mean of the members' spreads at each step, over those that have one (NaN where none
    has)."""
    known = np.isfinite(spreads).any(axis=0)
    out = np.full(spreads.shape[1], np.nan)
    out[known] = np.nanmean(spreads[:, known], axis=0)
    return out


def _calibrate(
    full: Mapping[str, Members], ys: Mapping[str, np.ndarray], chosen: Sequence[str]
) -> Calibration | None:
    """The chosen combination's errors on every window over its own spread, pooled."""
    errors = [
        calibration.normalised_errors(actual, *pair)
        for uid, found in full.items()
        if not found.floor_only
        for (_, actual), pair in zip(
            found.folds.split(ys[uid]) if found.folds else [],
            _window_forecasts(found, chosen),
            strict=True,
        )
        if pair is not None
    ]
    return Calibration.from_errors(np.concatenate(errors)) if errors else None


def _series_fit(
    found: Members, y: np.ndarray, m: int, choice: Choice, calibrated: Calibration | None
) -> SeriesFit:
    floor = _floor_backtest(found, y, m)
    naive = None if floor is None else floor.smape
    chosen = [f for f in choice.members if f in found.fitted and not found.floor_only]
    if not chosen:
        return SeriesFit(found.fitted[FLOOR], floor, naive)
    members = tuple(found.fitted[f] for f in chosen)
    spec = Spec(MEAN, members=tuple(f.spec for f in members))
    model = Combination(spec, members, calibrated)
    return SeriesFit(model, _scores(found, y, m, chosen, spec, calibrated), naive)


def _scores(
    found: Members,
    y: np.ndarray,
    m: int,
    chosen: Sequence[str],
    spec: Spec,
    calibrated: Calibration | None,
) -> Backtest | None:
    """The model's scores on the windows, its interval at LEVEL as it will be served."""
    pairs = _window_forecasts(found, chosen)
    if found.folds is None or not pairs or any(p is None for p in pairs):
        return None
    width = z(LEVEL) if calibrated is None else calibrated.quantile(LEVEL)
    model = _scored(spec, [p for p in pairs if p is not None], width, y, found.folds, m)
    members = [  # each member alone, its interval its own
        _scored(found.fitted[f].spec, own, z(LEVEL), y, found.folds, m)
        for f in chosen
        if len(own := [(w.mean, w.spread) for w in found.windows.get(f, ()) if w is not None])
        == len(found.folds.origins)
    ]
    return Backtest(model.spec, model.forecasts, model.scores, tuple(members))


def _scored(
    spec: Spec,
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    width: float,
    y: np.ndarray,
    folds: Folds,
    m: int,
) -> Backtest:
    """The windows' forecasts (mean and spread), each interval mean +- `width` spreads, scored."""
    forecasts = []
    for mean, spread in pairs:
        half = np.nan_to_num(width * spread)
        forecasts.append(Forecast(mean, mean - half, mean + half))
    return backtest.score(spec, tuple(forecasts), y, folds, m)


def _floor_backtest(found: Members, y: np.ndarray, m: int) -> Backtest | None:
    """Seasonal naive's scores on the windows: the floor's own, and the bar every model is
    compared with."""
    floor = found.windows.get(FLOOR)
    if found.folds is None or not floor or any(w is None for w in floor):
        return None
    pairs = [(w.mean, w.spread) for w in floor if w is not None]
    return _scored(Spec(FLOOR), pairs, z(LEVEL), y, found.folds, m)
