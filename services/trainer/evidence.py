"""Promotion and rollback on evidence (PROMOTION=realised or both), after shadow scoring.

The evidence is a version's standing against the champion on the points both were scored on
(`shadow.Standing`): it is better when there are at least MIN_REALISED_POINTS such points and
the one-sided Wilcoxon p-value that its SMAPEs are lower is below PROMOTION_SIGNIFICANCE.

- Rollback comes first: when the previous champion (the one the champion replaced, which is
  shadow-scored for this) is better by that evidence, the alias goes back to it, and the
  champion is tagged rolled back. A champion put there on purpose (`--replace-served`, or
  `mlstack promote --to`) may serve other series than the one it replaced: it is not rolled
  back.
- Else a challenger that is better by that evidence takes the alias, if it may: its training
  passed the guards on what the data is (its `guards` tag is "none"), it was never rolled back,
  and under `both` it won its backtest at training (its `backtest` tag is "won"). Of several,
  the one that beats the champion by the most (relative SMAPE on its shared points).

At most one move per call; PROMOTE=false makes none. A move tags the versions with its evidence,
logs a line, re-reads the alias, and moves it last. A call that moves nothing tags the champion
with its challengers' standing in brief (`SUMMARY`), which the API exports beside its realised
accuracy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from services.registry import Version
from services.trainer.config import TrainConfig
from services.trainer.promote import BACKTEST_TAG, PREVIOUS_TAG, WON, current
from services.trainer.score import ScoreError
from services.trainer.shadow import PREVIOUS, Shadowed, Standing, as_version, challengers

log = logging.getLogger("mlstack.score")

MOVE_TAG = "prod_move"  # on a version that took the alias after training: how (`WORDS`)
REALISED, ROLLBACK, BY_HAND = "realised", "rollback", "by hand"
WORDS = {REALISED: "promoted on evidence", ROLLBACK: "rolled back", BY_HAND: "moved by hand"}
ROLLED_BACK_TAG = "rolled_back"
# On the champion: how many shadowed versions are better on evidence, how many of those the
# policy keeps out, and the SMAPEs of the one closest to beating it on their shared points.
SUMMARY = (
    "challengers_better",
    "challengers_kept_out",
    "best_challenger_smape",
    "best_challenger_champion_smape",
)


@dataclass(frozen=True)
class Verdict:
    """What the evidence says of one shadowed version, and what the policy does with it."""

    better: bool  # the evidence says it is better than the champion
    moves: bool  # and the policy lets it take the alias
    reason: str


def evidence(cfg: TrainConfig, standing: Standing | None, champion: str) -> tuple[bool, str]:
    """Whether a standing says its version is better than `champion`, and the figures."""
    if standing is None or standing.champion_version != champion:
        return False, f"no point scored by both it and v{champion} yet"
    figures = (
        f"realised smape {standing.smape:.4f} against v{champion}'s "
        f"{standing.champion_smape:.4f} on {standing.points} shared point(s) of "
        f"{standing.series} series ({standing.test}, one-sided p {standing.pvalue_better:.4g})"
    )
    if standing.points < cfg.min_realised_points:
        return False, f"{figures}: fewer than MIN_REALISED_POINTS={cfg.min_realised_points}"
    if standing.pvalue_better >= cfg.promotion_significance:
        return False, f"{figures}: not better at {cfg.promotion_significance:g}"
    return True, f"{figures}: better at {cfg.promotion_significance:g}"


def barrier(cfg: TrainConfig, version: Version, role: str, champion: Version) -> str:
    """Why the policy keeps this version out even when the evidence says it is better; ""
    when nothing does."""
    tags = version.tags
    if cfg.promotion == "backtest":
        return "PROMOTION=backtest: realised evidence moves nothing"
    if not cfg.promote:
        return "PROMOTE=false: nothing moves the alias"
    if tags.get(ROLLED_BACK_TAG) == "true":
        return "it was rolled back before: `mlstack promote --to` serves it"
    if role == PREVIOUS:
        return deliberate(champion)
    if tags.get("guards") != "none":
        fired = tags.get("guards")
        return (
            f"guards fired at its training ({fired})"
            if fired
            else "no training decision of it passed the guards on what the data is"
        )
    if cfg.promotion == "both" and tags.get(BACKTEST_TAG) != WON:
        ended = tags.get(BACKTEST_TAG, "not recorded")
        return f"PROMOTION=both: it did not win its backtest at training ({ended})"
    return ""


def deliberate(champion: Version) -> str:
    """Why the champion is not rolled back: it was put there on purpose (past the guards, or by
    hand), so what it serves may differ from what it replaced; "" when it won its place."""
    if champion.tags.get("replace_served") == "true":
        return f"v{champion.version} replaced it with --replace-served: not rolled back"
    if champion.tags.get(MOVE_TAG) == BY_HAND:
        return f"v{champion.version} was served by hand: not rolled back"
    return ""


def verdict(
    cfg: TrainConfig, version: Version, role: str, standing: Standing | None, champion: Version
) -> Verdict:
    """What the evidence says of `version` against `champion`, and what the policy does."""
    better, figures = evidence(cfg, standing, champion.version)
    kept = barrier(cfg, version, role, champion) if better else ""
    return Verdict(better, better and not kept, f"{figures}; kept out: {kept}" if kept else figures)


def act(
    cfg: TrainConfig, client: MlflowClient, champion: Version, shadowed: list[Shadowed]
) -> dict[str, str] | None:
    """The one move the evidence calls for (a rollback before a promotion), done; None when
    none is called for, or when the alias moved while scoring."""
    judged = [(s, verdict(cfg, s.version, s.role, s.standing, champion)) for s in shadowed]
    rollbacks = [(s, v) for s, v in judged if v.moves and s.role == PREVIOUS]
    promotions = sorted(((s, v) for s, v in judged if v.moves), key=lambda sv: -_gain(sv[0]))
    chosen = rollbacks or promotions
    if not chosen:
        _tag(client, champion, summary(judged, champion), only_changed=True)
        return None
    to, found = chosen[0]
    kind = ROLLBACK if to.role == PREVIOUS else REALISED
    return move(client, cfg, champion, to.version, kind, found.reason)


def summary(judged: list[tuple[Shadowed, Verdict]], champion: Version) -> dict[str, str]:
    """The champion's `SUMMARY` tags from its shadowed versions' verdicts."""
    tags = {
        "challengers_better": str(sum(v.better for _, v in judged)),
        "challengers_kept_out": str(sum(v.better and not v.moves for _, v in judged)),
    }
    standing = [
        s for s, _ in judged if s.standing and s.standing.champion_version == champion.version
    ]
    if standing:
        best = max(standing, key=_gain).standing
        assert best is not None
        tags["best_challenger_smape"] = f"{best.smape:.6f}"
        tags["best_challenger_champion_smape"] = f"{best.champion_smape:.6f}"
    return tags


def _gain(shadowed: Shadowed) -> float:
    standing = shadowed.standing
    assert standing is not None  # only versions with evidence move
    return 1 - standing.smape / standing.champion_smape if standing.champion_smape else 0.0


def move(
    client: MlflowClient, cfg: TrainConfig, champion: Version, to: Version, kind: str, why: str
) -> dict[str, str] | None:
    """Tag the move and its evidence, re-read the alias, and move it to `to` (the last step);
    None when the alias no longer holds `champion`."""
    rollback = kind == ROLLBACK
    now = str(int(time.time()))
    reason = f"{WORDS[kind]} from v{champion.version} to v{to.version}: {why}"
    holder = current(client, cfg.model_name, cfg.model_alias)
    if holder is None or holder.version != champion.version:
        log.warning(
            "@%s moved to v%s while scoring; nothing moved: the next scoring decides",
            cfg.model_alias, None if holder is None else holder.version,
        )  # fmt: skip
        return None
    tags = {MOVE_TAG: kind, f"{MOVE_TAG}_reason": reason, f"{MOVE_TAG}_at": now}
    if rollback:  # never promoted on evidence again; the restored keeps its own previous
        gone = {ROLLED_BACK_TAG: "true", "rolled_back_to": to.version}
        _tag(client, champion, gone | {"rolled_back_reason": reason, "rolled_back_at": now})
    else:  # what a rollback would go back to
        tags[PREVIOUS_TAG] = champion.version
    _tag(client, to, tags)
    for key in set(SUMMARY) & to.tags.keys():  # of its own challengers, when it was served
        client.delete_model_version_tag(to.name, to.version, key)
    client.set_registered_model_alias(cfg.model_name, cfg.model_alias, to.version)
    log.info("%s", reason)
    return {"move": kind, "from": champion.version, "to": to.version, "reason": reason}


def _tag(
    client: MlflowClient, version: Version, tags: dict[str, str], only_changed: bool = False
) -> None:
    for key, value in tags.items():
        if not (only_changed and version.tags.get(key) == value):
            client.set_model_version_tag(version.name, version.version, key, value)


def explain(cfg: TrainConfig, client: MlflowClient) -> str:
    """Each shadowed version's standing against the champion, from the tags `mlstack score`
    wrote, and what the policy does with it: one line each."""
    champion = current(client, cfg.model_name, cfg.model_alias)
    if champion is None:
        raise ScoreError(f"{cfg.model_name}@{cfg.model_alias} is not set: no version is served yet")
    scored = champion.tags.get("realised_smape")
    lines = [
        f"@{cfg.model_alias} is v{champion.version} (realised smape {scored or 'not scored yet'}, "
        f"{champion.tags.get('realised_points', '0')} point(s)); PROMOTION={cfg.promotion}, "
        f"MIN_REALISED_POINTS={cfg.min_realised_points}, "
        f"PROMOTION_SIGNIFICANCE={cfg.promotion_significance:g}"
    ]
    for version, role in challengers(client, champion):
        standing = Standing.from_tags(version.tags)
        found = verdict(cfg, version, role, standing, champion)
        then = "takes the alias at the next `mlstack score`" if found.moves else "stays out"
        lines.append(f"v{version.version} ({role}): {found.reason}; {then}")
    if len(lines) == 1:
        lines.append(f"no challenger registered since v{champion.version}, no previous champion")
    return "\n".join(lines)


def by_hand(cfg: TrainConfig, client: MlflowClient, version: str) -> dict[str, str]:
    """Move the alias to `version` by hand (`mlstack promote --to`), recorded as a move."""
    champion = current(client, cfg.model_name, cfg.model_alias)
    try:
        to = as_version(client.get_model_version(cfg.model_name, version))
    except Exception as exc:
        raise ScoreError(f"{cfg.model_name} has no version {version}: {exc}") from None
    if champion is not None and champion.version == version:
        return {"move": "", "from": version, "to": version, "reason": "served already"}
    if champion is None:  # nothing served yet: nothing to replace, or to roll back to
        now = str(int(time.time()))
        reason = f"{WORDS[BY_HAND]} to v{version}: mlstack promote --to"
        _tag(client, to, {MOVE_TAG: BY_HAND, f"{MOVE_TAG}_reason": reason, f"{MOVE_TAG}_at": now})
        client.set_registered_model_alias(cfg.model_name, cfg.model_alias, version)
        return {"move": BY_HAND, "from": "", "to": version, "reason": reason}
    moved = move(client, cfg, champion, to, BY_HAND, "mlstack promote --to")
    if moved is None:
        raise ScoreError(f"@{cfg.model_alias} moved meanwhile; try again")
    return moved
