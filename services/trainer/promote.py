"""Champion/challenger promotion to a registry alias, one rule for any number of series.

A new version takes the alias only when its backtest SMAPE is strictly better than the current
champion's, refitted and scored on the same folds of the same data, series by series: the mean
over the series both know must be strictly lower, and at most a share of them may regress
(`Rule`). With one series this is "strictly better on the same folds": the mean of one series
is its SMAPE, and a regressed series is also a worse one. MLflow has no compare-and-set on
aliases, so after moving the alias we wait briefly and re-read it: if a concurrent trainer moved
it meanwhile, we compare against that version too. Two trainers finishing together therefore
end with the better one holding the alias.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from services.registry import ClientRegistry, Version

MAX_ROUNDS = 5
BACKTEST_TAG, WON = "backtest", "won"  # how the version's backtest against the champion ended
PREVIOUS_TAG = "previous_champion"  # on a version taking the alias: the one it replaced
VERDICTS = ("improved", "same", "worse", "regressed", "new", "dropped", "incomparable")
COMPARED = ("improved", "same", "worse", "regressed")
# A champion's refitted scores: the ids it knows and each one's SMAPE on the challenger's folds
# (None: not refitted); None when it cannot be read per series.
ChampionScores = Callable[[Version], tuple[Collection[str], Mapping[str, float | None]] | None]
Judge = Callable[[Version], "Decision"]  # a champion in, the decision against it out


@dataclass(frozen=True)
class Rule:
    """Strictly lower mean SMAPE over the series both know, and at most `max_regressed` of them
    worse by more than `tolerance` (relative)."""

    max_regressed: float = 0.10
    tolerance: float = 0.10


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion_version: str | None = None
    champion_smape: float | None = None  # the mean over the compared series
    challenger_smape: float | None = None  # the same series' mean (else the version's own)
    extra: Mapping[str, str] = field(default_factory=dict)  # more tags (the per-series counts)

    def tags(self) -> dict[str, str]:
        tags = {
            **self.extra,
            "decision": "promoted" if self.promoted else "rejected",
            "reason": self.reason,
            "challenger_smape": _figure(self.challenger_smape),
        }
        if self.champion_version is not None:
            tags["champion_version"] = self.champion_version
        if self.champion_smape is not None:
            tags["champion_smape"] = _figure(self.champion_smape)
        return tags

    @property
    def compared(self) -> bool:
        """Whether any series was compared with the champion (else: not comparable)."""
        return self.champion_smape is not None


def _figure(value: float | None) -> str:
    return "none" if value is None else f"{value:.6f}"


def current(client: MlflowClient, name: str, alias: str) -> Version | None:
    """The version holding `alias`, or None when the alias (or the model) does not exist (the
    registry's one rule, read through the trainer's own client and its retries)."""
    return ClientRegistry(client).version(name, alias)


def realised(champion: Version) -> dict[str, str]:
    """The champion's realised and backtest SMAPE as `mlstack score` tagged them."""
    keys = ("realised_smape", "backtest_smape")
    return {f"champion_{k}": champion.tags[k] for k in keys if k in champion.tags}


def degraded(champion: Version, ratio: float | None) -> str:
    """Why a tie beats the champion (its realised SMAPE above `ratio` times its backtest's), or
    "" when it does not (no ratio given, or the champion was not scored or is not degraded)."""
    try:
        now, then = float(champion.tags["realised_smape"]), float(champion.tags["backtest_smape"])
    except (KeyError, ValueError):
        return ""
    if ratio is None or not now > ratio * then:
        return ""
    return (
        f"; a tie wins: champion's realised smape {now:.4f} > {ratio:g} x its backtest {then:.4f}"
    )


def verdicts(
    challenger: Mapping[str, float | None],
    champion_ids: Collection[str],
    champion: Mapping[str, float | None],
    rule: Rule,
) -> pd.DataFrame:
    """One row per series of either version: both SMAPEs and what became of it."""
    rows = []
    for uid in sorted(set(challenger) | set(champion_ids)):
        ours, theirs = challenger.get(uid), champion.get(uid)
        if uid not in champion_ids:
            verdict = "new"
        elif uid not in challenger:
            verdict = "dropped"
        elif ours is None or theirs is None:
            verdict = "incomparable"
        elif ours > theirs * (1 + rule.tolerance):
            verdict = "regressed"
        else:
            verdict = "improved" if ours < theirs else "worse" if ours > theirs else "same"
        rows.append({"unique_id": uid, "smape": ours, "champion_smape": theirs, "verdict": verdict})
    return pd.DataFrame(rows, columns=["unique_id", "smape", "champion_smape", "verdict"])


def compare(table: pd.DataFrame, champion: Version, rule: Rule, ties: str = "") -> Decision:
    """The decision from `verdicts`' table (see `Rule`); `ties` (from `degraded`), when not "",
    lets an equal mean win and says why."""
    counts = {v: int((table["verdict"] == v).sum()) for v in VERDICTS}
    compared = table[table["verdict"].isin(COMPARED)]
    extra = {f"series_{v}": str(n) for v, n in counts.items()} | {
        "series_compared": str(len(compared))
    }
    others = f"{counts['new']} new, {counts['dropped']} dropped"
    if compared.empty:
        return Decision(
            False,
            f"no series that both this version and champion v{champion.version} can score on "
            f"the same folds ({others}, {counts['incomparable']} not comparable), so not "
            "comparable",
            champion.version,
            extra=extra | {BACKTEST_TAG: "incomparable"},
        )
    ours, theirs = float(np.mean(compared["smape"])), float(np.mean(compared["champion_smape"]))
    share = counts["regressed"] / len(compared)
    better = ours < theirs or (bool(ties) and ours <= theirs)
    relation = ("<" if ours < theirs else "<=") if better else ">="
    reason = (
        f"mean smape {ours:.4f} {relation} champion v{champion.version} "
        f"{theirs:.4f} over {len(compared)} series on the same folds; {counts['improved']} "
        f"improved, {counts['regressed']} regressed by more than {rule.tolerance:.0%} "
        f"({share:.1%}, at most {rule.max_regressed:.0%} allowed), {others}{ties}"
    )
    promoted = better and share <= rule.max_regressed
    extra[BACKTEST_TAG] = WON if promoted else "lost"
    return Decision(promoted, reason, champion.version, theirs, ours, extra)


def promote(
    client: MlflowClient,
    name: str,
    alias: str,
    version: str,
    challenger: Mapping[str, float | None],
    champion_scores: ChampionScores,
    rule: Rule,
    move: bool = True,
    settle_seconds: float = 1.0,
    degradation: float | None = None,
    screen: Callable[[Judge], Judge] | None = None,
    policy: str = "backtest",
) -> tuple[Decision, pd.DataFrame | None]:
    """Decide, move the alias if allowed and better, and tag the version with the outcome.
    `challenger` is each series' backtest SMAPE (None without one); `champion_scores` refits a
    champion's specs on the same folds. With `degradation`, a tie beats a champion whose
    realised SMAPE is that many times its backtest's (`degraded`); `screen` wraps the judging
    (the guards on what the data is, `guards.screen`); under a `policy` other than backtest a
    win on backtest is held for the realised evidence (`held`). The decision, and the
    per-series table it was made on (None when no champion was compared)."""
    judged: dict[str, tuple[Decision, pd.DataFrame | None]] = {}

    def judge(champion: Version) -> Decision:
        if champion.version not in judged:
            found = champion_scores(champion)
            if found is None:
                reason = (
                    f"champion v{champion.version} cannot be read per series, so not comparable"
                )
                judged[champion.version] = (Decision(False, reason, champion.version), None)
            else:
                table = verdicts(challenger, found[0], found[1], rule)
                ties = degraded(champion, degradation)
                judged[champion.version] = (compare(table, champion, rule, ties), table)
        return judged[champion.version][0]

    judging = judge if screen is None else screen(judge)
    decision = decide(client, name, alias, version, judging, move, settle_seconds, policy)
    if decision.challenger_smape is None:  # nothing compared: the version's own mean
        scored = [v for v in challenger.values() if v is not None]
        own = float(np.mean(scored)) if scored else None
        decision = replace(decision, challenger_smape=own)
    for key, value in decision.tags().items():
        client.set_model_version_tag(name, version, key, value)
    return decision, judged.get(decision.champion_version or "", (None, None))[1]


def decide(
    client: MlflowClient,
    name: str,
    alias: str,
    version: str,
    judge: Judge,
    move: bool,
    settle_seconds: float,
    policy: str = "backtest",
) -> Decision:
    """Judge the alias' holder and move the alias when `judge` says so (or when it is unset);
    re-read it before and after moving, and judge again whoever holds it then (see the module).
    The version is tagged with the champion it replaces before the alias moves."""
    decision = Decision(False, "not decided")
    for _ in range(MAX_ROUNDS):
        champion = current(client, name, alias)
        if champion is None:
            decision = Decision(True, f"first version: @{alias} was unset")
        elif champion.version == version:
            break
        else:
            decision = judge(champion)
            decision = replace(decision, extra={**realised(champion), **decision.extra})
            decision = held(decision, policy)
        if not decision.promoted or not move:
            break
        # Scoring takes seconds: if the alias moved meanwhile, judge the new holder first.
        if _version(current(client, name, alias)) != _version(champion):
            continue
        if champion is not None:  # what a rollback goes back to (`evidence.py`)
            client.set_model_version_tag(name, version, PREVIOUS_TAG, champion.version)
        client.set_registered_model_alias(name, alias, version)
        time.sleep(settle_seconds)  # then re-read: a concurrent trainer may have moved it
    if not move and decision.promoted:
        reason = f"--no-promote given (would have been promoted: {decision.reason})"
        decision = replace(decision, promoted=False, reason=reason)
    return decision


def held(decision: Decision, policy: str) -> Decision:
    """Under PROMOTION=realised or both, a win on backtest alone does not move the alias: the
    challenger waits for the evidence `mlstack score` gathers (`evidence.py`). A first version
    and an override (`--replace-served`) are no backtest win, and still move it."""
    if policy == "backtest" or not decision.promoted or decision.extra.get(BACKTEST_TAG) != WON:
        return decision
    reason = (
        f"better on backtest, but PROMOTION={policy} waits for realised evidence: {decision.reason}"
    )
    return replace(decision, promoted=False, reason=reason)


def _version(model_version: Version | None) -> str | None:
    return None if model_version is None else model_version.version
