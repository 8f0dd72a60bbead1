"""Champion/challenger promotion to a registry alias.

A new version takes the alias only when its backtest SMAPE is strictly better than the current
champion's spec refitted and scored on the same folds of the same data. MLflow has no
compare-and-set on aliases, so after moving the alias we wait briefly and re-read it: if a
concurrent trainer moved it meanwhile, we compare against that version too. Two trainers
finishing together therefore end with the better one holding the alias.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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

    def tags(self, challenger_smape: float | None) -> dict[str, str]:
        tags = {
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


def compare(challenger: float | None, champion: Version, champion_smape: float | None) -> Decision:
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
    better = challenger < champion_smape
    relation = "<" if better else ">="
    return Decision(
        better,
        f"smape {challenger:.4f} {relation} champion v{champion.version} "
        f"{champion_smape:.4f} on the same holdout",
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
) -> Decision:
    """Decide, move the alias if allowed and better, and tag the version with the outcome."""
    scored: dict[str, float | None] = {}

    def judge(champion: Version | None) -> Decision:
        if champion is None:
            return Decision(True, f"first version: @{alias} was unset")
        if challenger_smape is not None and champion.version not in scored:
            spec = spec_of(client, champion)
            scored[champion.version] = rescore(spec) if spec else None
        return compare(challenger_smape, champion, scored.get(champion.version))

    decision = Decision(False, "not decided")
    for _ in range(MAX_ROUNDS):
        champion = current(client, name, alias)
        if champion is not None and champion.version == version:
            break
        decision = judge(champion)
        if not decision.promoted or not move:
            break
        # Scoring takes seconds: if the alias moved meanwhile, judge the new holder first.
        if _version(current(client, name, alias)) != _version(champion):
            continue
        client.set_registered_model_alias(name, alias, version)
        time.sleep(settle_seconds)  # then re-read: a concurrent trainer may have moved it
    if not move and decision.promoted:
        decision = Decision(
            False,
            f"--no-promote given (would have been promoted: {decision.reason})",
            decision.champion_version,
            decision.champion_smape,
        )
    for key, value in decision.tags(challenger_smape).items():
        client.set_model_version_tag(name, version, key, value)
    return decision
