"""Shadow scoring: every challenger registered since the champion (a later version not holding
the alias), and the previous champion (the version the champion replaced, its
`previous_champion` tag), is scored on the points that arrived, as the champion is
(`score.score_version`, its own ledger, each point once), and compared with the champion on the
points both scored: both realised SMAPEs there, how many points and series, and a paired
Wilcoxon signed-rank test of their SMAPEs, series against series (point against point below
`MIN_SERIES` series), two-sided and one-sided (that the shadowed version is better). The
comparison is written as the version's `shadow_*` tags, so whether a decision was right is
known, and the promotion policy acts on it (`evidence.py`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient
from scipy.stats import wilcoxon

from services.forecasting import metrics
from services.registry import Version
from services.trainer import points
from services.trainer.config import TrainConfig
from services.trainer.promote import PREVIOUS_TAG
from services.trainer.score import ScoreSummary, score_version

log = logging.getLogger("mlstack.score")

MIN_SERIES = 6  # fewer shared series: the test pairs points instead (serially dependent, noted)
MAX_CHALLENGERS = 20  # the latest ones; older challengers keep their last standing


@dataclass(frozen=True)
class Standing:
    """A challenger against the champion on the points both were scored on."""

    champion_version: str
    smape: float  # the challenger's realised SMAPE there (mean over the paired units)
    champion_smape: float
    points: int
    series: int
    test: str  # what was paired: "wilcoxon over series" or "wilcoxon over points"
    pvalue: float  # two-sided; 1.0 when every pair ties
    pvalue_better: float  # one-sided: that the version's SMAPEs are lower than the champion's

    def tags(self) -> dict[str, str]:
        return {
            f"shadow_{k}": f"{v:.6f}" if isinstance(v, float) else str(v)
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Standing | None:
        """The standing a version's tags hold; None when they hold none (or an older form)."""
        kinds = {"float": float, "int": int, "str": str}
        try:
            return cls(
                **{f.name: kinds[str(f.type)](tags[f"shadow_{f.name}"]) for f in fields(cls)}
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class Shadowed:
    """One version scored in the champion's shadow: its scoring and its standing."""

    version: Version
    role: str  # CHALLENGER or PREVIOUS
    summary: ScoreSummary
    standing: Standing | None

    def line(self) -> dict[str, object]:
        """What `mlstack score` prints of it."""
        line: dict[str, object] = {"version": self.version.version, "role": self.role}
        line |= {"new_points": self.summary.new_points}
        line["realised_smape"] = self.summary.realised_smape
        if self.standing is not None:
            line |= {k: v for k, v in asdict(self.standing).items() if k != "champion_version"}
        return line


CHALLENGER, PREVIOUS = "challenger", "previous champion"
FIELDS = fields(Standing)


def challengers(client: MlflowClient, champion: Version) -> list[tuple[Version, str]]:
    """The versions registered after the champion, oldest first (the latest MAX_CHALLENGERS),
    then the previous champion, if the champion names one, each with its role."""
    found = client.search_model_versions(f"name = '{champion.name}'")
    later = sorted(
        (v for v in found if int(v.version) > int(champion.version)), key=lambda v: int(v.version)
    )
    shadowed = [(as_version(v), CHALLENGER) for v in later[-MAX_CHALLENGERS:]]
    previous = champion.tags.get(PREVIOUS_TAG)
    if previous is not None and previous not in {v.version for v, _ in shadowed}:
        try:
            found_previous = client.get_model_version(champion.name, previous)
            shadowed.append((as_version(found_previous), PREVIOUS))
        except Exception as exc:  # deleted since: nothing to go back to
            log.info("previous champion v%s not found: %s", previous, str(exc)[:200])
    return shadowed


def as_version(found: ModelVersion) -> Version:
    """An MLflow ModelVersion as the registry's `Version`."""
    return Version(found.name, found.version, found.run_id or "", dict(found.tags))


def shadow(
    cfg: TrainConfig, client: MlflowClient, champion: Version, observed: pd.DataFrame
) -> list[Shadowed]:
    """Score each challenger (and the previous champion) on `observed` and tag its standing
    against the champion; one failure to score a version is logged and the others go on."""
    found: list[Shadowed] = []
    for version, role in challengers(client, champion):
        try:
            summary = score_version(cfg, client, version, observed)
            standing = stand(client, champion, version)
        except Exception as exc:  # a broken challenger must not stop the champion's scoring
            log.warning("shadow scoring v%s failed: %s", version.version, str(exc)[:300])
            continue
        changed = {} if standing is None else standing.tags().items() - version.tags.items()
        for key, value in dict(changed).items():  # nothing new: nothing written
            client.set_model_version_tag(version.name, version.version, key, value)
        tags = version.tags | (standing.tags() if standing is not None else {})
        found.append(Shadowed(replace(version, tags=tags), role, summary, standing))
    return found


def stand(client: MlflowClient, champion: Version, challenger: Version) -> Standing | None:
    """The challenger's standing from both ledgers; None while they share no point."""
    ours = points.read(client, challenger.run_id, points.LEDGER)
    theirs = points.read(client, champion.run_id, points.LEDGER)
    if ours is None or theirs is None:
        return None
    both = ours.merge(theirs, on=["unique_id", "ds"], suffixes=("", "_champion"))
    if both.empty:
        return None
    series = both["unique_id"].nunique()
    units = ["unique_id"] if series >= MIN_SERIES else ["unique_id", "ds"]
    paired = pd.DataFrame(
        [
            (metrics.smape(g["y"], g["yhat"]), metrics.smape(g["y"], g["yhat_champion"]))
            for _, g in both.groupby(units)
        ],
        columns=["smape", "champion_smape"],
    )
    differences = paired["smape"] - paired["champion_smape"]
    ties = not differences.any()  # scipy refuses: no evidence either way
    pvalue = 1.0 if ties else float(wilcoxon(differences).pvalue)
    better = 1.0 if ties else float(wilcoxon(differences, alternative="less").pvalue)
    return Standing(
        champion.version,
        float(paired["smape"].mean()),
        float(paired["champion_smape"].mean()),
        len(both),
        series,
        f"wilcoxon over {'series' if len(units) == 1 else 'points'}",
        pvalue,
        better,
    )
