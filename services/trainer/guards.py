"""Guards on what the data is, checked against the champion before any score is compared: a
challenger does not take the alias when its frequency or season length differs from the
champion's, when its data ends before the champion's training data did (a stale extract), or
when it would serve other series than a one-series champion (another id, another history
under the same id, or a panel in its place). One override, `--replace-served`
(`REPLACE_SERVED`), is for a user who means to change what is served: it lets the challenger
replace the champion past a guard, or when nothing of the two is comparable, and is tagged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from services.forecasting.panel import Panel
from services.registry import Version
from services.trainer import points
from services.trainer.fit import Task
from services.trainer.promote import Decision, Judge

log = logging.getLogger("mlstack.train")

OVERRIDE = "--replace-served (REPLACE_SERVED=true)"
SAME_SHARE = 0.5  # a history is the same series when at least this share of shared dates agree
SAME_TOLERANCE = 1e-6  # relative: a value changed by less is the same value
Guard = Callable[[Version], dict[str, str]]  # a champion in, each fired guard's message out


@dataclass(frozen=True)
class Trained:
    """What a version was trained on, as the guards compare it."""

    frequency: str | None  # pandas alias; None when the run did not record it
    season_length: int | None
    points: pd.DataFrame | None  # unique_id, ds, y: the points fitted; None when not kept

    @property
    def ids(self) -> list[str]:
        return [] if self.points is None else sorted(self.points["unique_id"].unique())

    def ends(self, ids: Sequence[str]) -> pd.Timestamp | None:
        """The latest date of these series' points (None when it has none of them)."""
        if self.points is None:
            return None
        mine = self.points[self.points["unique_id"].isin(ids)]
        return None if mine.empty else pd.Timestamp(mine["ds"].max())


def challenger(panel: Panel, tasks: Sequence[Task]) -> Trained:
    """What this run trains on: the panel's frequency and the points of every series fitted."""
    frames = [points.training_frame(t.unique_id, t.ds, t.y) for t in tasks]
    return Trained(panel.frequency.alias, panel.frequency.season_length, pd.concat(frames))


def champion(client: MlflowClient, version: Version) -> Trained:
    """What a version was trained on, from its run's params and kept training points."""
    params = client.get_run(version.run_id).data.params
    season = params.get("season_length")
    found = points.read(client, version.run_id, points.TRAINING)
    return Trained(params.get("frequency"), None if season is None else int(season), found)


def check(new: Trained, old: Trained, version: str) -> dict[str, str]:
    """Each guard that fires for `new` against champion `version`'s `old`: name to message."""
    fired = {"frequency": _frequency(new, old, version)}
    if not fired["frequency"]:  # dates and values of two frequencies do not compare
        fired["stale"] = _stale(new, old, version)
    fired["series"] = _series(new, old, version, same_frequency=not fired["frequency"])
    return {name: message for name, message in fired.items() if message}


def _frequency(new: Trained, old: Trained, version: str) -> str:
    if None in (old.frequency, old.season_length):
        return ""  # not recorded: nothing to hold against it
    if (new.frequency, new.season_length) == (old.frequency, old.season_length):
        return ""
    return (
        f"its frequency {new.frequency} (season length {new.season_length}) differs from "
        f"champion v{version}'s {old.frequency} (season length {old.season_length})"
    )


def _stale(new: Trained, old: Trained, version: str) -> str:
    """Over the series both know: the challenger's data must end no earlier than the
    champion's training data did."""
    shared = sorted(set(new.ids) & set(old.ids))
    ours, theirs = new.ends(shared), old.ends(shared)
    if ours is None or theirs is None or ours >= theirs:
        return ""
    which = "its series" if len(shared) == 1 else f"the {len(shared)} series both know"
    return (
        f"its data ends {ours:%Y-%m-%d}, before champion v{version}'s training data ended "
        f"{theirs:%Y-%m-%d} ({which}): a stale extract"
    )


def _series(new: Trained, old: Trained, version: str, same_frequency: bool) -> str:
    """Whether the challenger serves other series than a one-series champion."""
    if len(old.ids) != 1:
        return ""  # a panel champion: the per-series rules judge series added or dropped
    (theirs,) = old.ids
    if len(new.ids) > 1:
        return (
            f"a panel of {len(new.ids)} series would replace champion v{version}, a model of "
            f"the one series {theirs!r}"
        )
    if new.ids != [theirs]:
        return f"it serves series {new.ids[0]!r}, champion v{version} serves {theirs!r}"
    return _lineage(new, old, version, theirs) if same_frequency else ""


def _lineage(new: Trained, old: Trained, version: str, uid: str) -> str:
    """Whether the history under the one id is the champion's, grown or restated a little."""
    assert new.points is not None and old.points is not None  # both have the id
    merged = new.points.merge(old.points, on=["unique_id", "ds"], suffixes=("", "_then"))
    if merged.empty:
        return f"its series {uid!r} shares no date with champion v{version}'s training data"
    same = np.isclose(merged["y"], merged["y_then"], rtol=SAME_TOLERANCE, atol=0)
    if same.mean() >= SAME_SHARE:
        return ""
    return (
        f"its series {uid!r} differs from champion v{version}'s training data on "
        f"{int((~same).sum())} of {len(merged)} shared dates: another series under the same id"
    )


def guard(client: MlflowClient, new: Trained) -> Guard:
    """The guards of `new` against any champion, each champion read once."""
    seen: dict[str, dict[str, str]] = {}

    def fired(version: Version) -> dict[str, str]:
        if version.version not in seen:
            seen[version.version] = check(new, champion(client, version), version.version)
        return seen[version.version]

    return fired


def screening(
    client: MlflowClient, panel: Panel, tasks: Sequence[Task], replace_served: bool
) -> Callable[[Judge], Judge]:
    """This run's guards (`screen`) against whichever champion holds the alias."""
    return screen(guard(client, challenger(panel, tasks)), replace_served)


def screen(guarded: Guard, replace_served: bool) -> Callable[[Judge], Judge]:
    """Judging behind the guards: a guard that fires rejects the challenger before any score is
    compared, unless `replace_served`, which then lets it replace the champion (as it does when
    nothing of the two is comparable)."""

    def wrap(judge: Judge) -> Judge:
        def screened(version: Version) -> Decision:
            fired = guarded(version)
            if fired:
                return _guarded(fired, version, replace_served)
            decision = judge(version)
            tags = {**decision.extra, "guards": "none"}
            if replace_served and not decision.compared:
                tags["replace_served"] = "true"
                reason = f"replaces champion v{version.version} ({OVERRIDE}): {decision.reason}"
                return Decision(True, reason, version.version, extra=tags)
            return replace(decision, extra=tags)

        return screened

    return wrap


def _guarded(fired: Mapping[str, str], version: Version, replace_served: bool) -> Decision:
    what = "; ".join(fired.values())
    tags = {"guards": ",".join(fired)}
    if replace_served:
        reason = f"replaces champion v{version.version} ({OVERRIDE} given): {what}"
        return Decision(True, reason, version.version, extra=tags | {"replace_served": "true"})
    reason = f"{what}; so not promoted: pass {OVERRIDE} to serve it anyway"
    return Decision(False, reason, version.version, extra=tags)
