"""Champion/challenger promotion to a registry alias.

A new version takes the alias only when its backtest SMAPE is strictly better than the current
champion's spec refitted and scored on the same folds of the same data; for many series, per
series (`compare_panel`: the mean over the series both know, with a bound on how many may
regress). MLflow has no
compare-and-set on aliases, so after moving the alias we wait briefly and re-read it: if a
concurrent trainer moved it meanwhile, we compare against that version too. Two trainers
finishing together therefore end with the better one holding the alias.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from services.forecasting.models import Spec
from services.registry import ClientRegistry, Version

MAX_ROUNDS = 5


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion_version: str | None = None
    champion_smape: float | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # more tags (the per-series counts)

    def tags(self, challenger_smape: float | None) -> dict[str, str]:
        tags = {
            **self.extra,
            "decision": "promoted" if self.promoted else "rejected",
            "reason": self.reason,
            "challenger_smape": "none" if challenger_smape is None else f"{challenger_smape:.6f}",
        }
        if self.champion_version is not None:
            tags["champion_version"] = self.champion_version
        if self.champion_smape is not None:
            tags["champion_smape"] = f"{self.champion_smape:.6f}"
        return tags


def current(client: MlflowClient, name: str, alias: str) -> Version | None:
    """The version holding `alias`, or None when the alias (or the model) does not exist (the
    registry's one rule, read through the trainer's own client and its retries)."""
    return ClientRegistry(client).version(name, alias)


def spec_of(client: MlflowClient, version: Version) -> Spec | None:
    """The spec a version was trained with, read from its run's `spec` param."""
    if not version.run_id:
        return None
    text = client.get_run(version.run_id).data.params.get("spec")
    return Spec.from_json(text) if text else None


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


def compare(
    challenger: float | None, champion: Version, champion_smape: float | None, ties: str = ""
) -> Decision:
    if challenger is None:
        return Decision(
            False,
            f"no backtest of this version (series too short), so not comparable with champion "
            f"v{champion.version}",
            champion.version,
        )
    if champion_smape is None:
        return Decision(
            False,
            f"champion v{champion.version} cannot be refitted on this data, so not comparable",
            champion.version,
        )
    better = challenger < champion_smape or (bool(ties) and challenger <= champion_smape)
    relation = ("<" if challenger < champion_smape else "<=") if better else ">="
    return Decision(
        better,
        f"smape {challenger:.4f} {relation} champion v{champion.version} "
        f"{champion_smape:.4f} on the same holdout{ties}",
        champion.version,
        champion_smape,
    )


def _version(model_version: Version | None) -> str | None:
    return None if model_version is None else model_version.version


def promote(
    client: MlflowClient,
    name: str,
    alias: str,
    version: str,
    challenger_smape: float | None,
    rescore: Callable[[Spec], float | None],
    move: bool = True,
    settle_seconds: float = 1.0,
    degradation: float | None = None,
) -> Decision:
    """Decide, move the alias if allowed and better, and tag the version with the outcome;
    with `degradation`, a tie beats a champion whose realised SMAPE is that many times its
    backtest's (`degraded`)."""
    scored: dict[str, float | None] = {}

    def judge(champion: Version) -> Decision:
        if challenger_smape is not None and champion.version not in scored:
            spec = spec_of(client, champion)
            scored[champion.version] = rescore(spec) if spec else None
        ties = degraded(champion, degradation)
        return compare(challenger_smape, champion, scored.get(champion.version), ties)

    decision = decide(client, name, alias, version, judge, move, settle_seconds)
    for key, value in decision.tags(challenger_smape).items():
        client.set_model_version_tag(name, version, key, value)
    return decision


def decide(
    client: MlflowClient,
    name: str,
    alias: str,
    version: str,
    judge: Callable[[Version], Decision],
    move: bool,
    settle_seconds: float,
) -> Decision:
    """Judge the alias' holder and move the alias when `judge` says so (or when it is unset);
    re-read it before and after moving, and judge again whoever holds it then (see the module)."""
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
        if not decision.promoted or not move:
            break
        # Scoring takes seconds: if the alias moved meanwhile, judge the new holder first.
        if _version(current(client, name, alias)) != _version(champion):
            continue
        client.set_registered_model_alias(name, alias, version)
        time.sleep(settle_seconds)  # then re-read: a concurrent trainer may have moved it
    if not move and decision.promoted:
        reason = f"--no-promote given (would have been promoted: {decision.reason})"
        decision = replace(decision, promoted=False, reason=reason)
    return decision


@dataclass(frozen=True)
class Rule:
    """The per-series rule: strictly lower mean SMAPE over the series both know, and at most
    `max_regressed` of them worse by more than `tolerance` (relative)."""

    max_regressed: float = 0.10
    tolerance: float = 0.10


VERDICTS = ("improved", "same", "worse", "regressed", "new", "dropped", "incomparable")


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


def compare_panel(table: pd.DataFrame, champion: Version, rule: Rule, ties: str = "") -> Decision:
    """The decision from `verdicts`' table (see `Rule`)."""
    counts = {v: int((table["verdict"] == v).sum()) for v in VERDICTS}
    compared = table[table["verdict"].isin(("improved", "same", "worse", "regressed"))]
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
            extra=extra,
        )
    ours, theirs = float(np.mean(compared["smape"])), float(np.mean(compared["champion_smape"]))
    share = counts["regressed"] / len(compared)
    better = ours < theirs or (bool(ties) and ours <= theirs)
    few = share <= rule.max_regressed
    relation = ("<" if ours < theirs else "<=") if better else ">="
    reason = (
        f"mean smape {ours:.4f} {relation} champion v{champion.version} "
        f"{theirs:.4f} over {len(compared)} series on the same folds; {counts['improved']} "
        f"improved, {counts['regressed']} regressed by more than {rule.tolerance:.0%} "
        f"({share:.1%}, at most {rule.max_regressed:.0%} allowed), {others}{ties}"
    )
    extra |= {"challenger_smape": f"{ours:.6f}"}
    return Decision(better and few, reason, champion.version, theirs, extra)


def promote_panel(
    client: MlflowClient,
    name: str,
    alias: str,
    version: str,
    challenger: Mapping[str, float | None],
    champion_scores: Callable[[Version], tuple[Collection[str], dict[str, float | None]] | None],
    rule: Rule,
    move: bool = True,
    settle_seconds: float = 1.0,
    degradation: float | None = None,
) -> tuple[Decision, pd.DataFrame | None]:
    """`promote` for a version of many series: `challenger` is each series' backtest SMAPE
    (None without one); `champion_scores` refits a champion's specs on the same folds (the ids
    it knows, and their SMAPEs), or says None when it cannot be read per series. The decision,
    and the per-series table it was made on."""
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
                judged[champion.version] = (compare_panel(table, champion, rule, ties), table)
        return judged[champion.version][0]

    decision = decide(client, name, alias, version, judge, move, settle_seconds)
    table = judged.get(decision.champion_version or "", (None, None))[1]
    mean = decision.extra.get("challenger_smape")
    for key, value in decision.tags(None if mean is None else float(mean)).items():
        client.set_model_version_tag(name, version, key, value)
    return decision, table
