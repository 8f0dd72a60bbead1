"""Shadow scoring: every challenger registered since the champion (a later version not holding
the alias) is scored on the points that arrived, as the champion is (`score.score_version`, its
own ledger, each point once), and compared with the champion on the points both scored: both
realised SMAPEs there, how many points and series, and a paired Wilcoxon signed-rank test of
their SMAPEs, series against series (point against point below `MIN_SERIES` series). The
comparison is written as the challenger's `shadow_*` tags, so whether a decision was right is
known, and a policy can act on it."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import pandas as pd
from mlflow.tracking import MlflowClient
from scipy.stats import wilcoxon

from services.forecasting import metrics
from services.registry import Version
from services.trainer import points
from services.trainer.config import TrainConfig
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

    def tags(self) -> dict[str, str]:
        return {
            f"shadow_{k}": f"{v:.6f}" if isinstance(v, float) else str(v)
            for k, v in asdict(self).items()
        }


def challengers(client: MlflowClient, champion: Version) -> list[Version]:
    """The versions registered after the champion, oldest first (the latest MAX_CHALLENGERS)."""
    found = client.search_model_versions(f"name = '{champion.name}'")
    later = sorted(
        (v for v in found if int(v.version) > int(champion.version)), key=lambda v: int(v.version)
    )
    return [
        Version(v.name, v.version, v.run_id or "", dict(v.tags)) for v in later[-MAX_CHALLENGERS:]
    ]


def shadow(
    cfg: TrainConfig, client: MlflowClient, champion: Version, observed: pd.DataFrame
) -> list[dict[str, object]]:
    """Score each challenger on `observed` and tag its standing against the champion; one
    failure to score a challenger is logged and the others go on."""
    found: list[dict[str, object]] = []
    for version in challengers(client, champion):
        try:
            summary = score_version(cfg, client, version, observed)
            standing = stand(client, champion, version)
        except Exception as exc:  # a broken challenger must not stop the champion's scoring
            log.warning("shadow scoring v%s failed: %s", version.version, str(exc)[:300])
            continue
        changed = {} if standing is None else standing.tags().items() - version.tags.items()
        for key, value in dict(changed).items():  # nothing new: nothing written
            client.set_model_version_tag(version.name, version.version, key, value)
        found.append(_line(summary, standing))
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
    pvalue = 1.0 if not differences.any() else float(wilcoxon(differences).pvalue)
    return Standing(
        champion.version,
        float(paired["smape"].mean()),
        float(paired["champion_smape"].mean()),
        len(both),
        series,
        f"wilcoxon over {'series' if len(units) == 1 else 'points'}",
        pvalue,
    )


def _line(summary: ScoreSummary, standing: Standing | None) -> dict[str, object]:
    line: dict[str, object] = {"version": summary.version, "new_points": summary.new_points}
    line["realised_smape"] = summary.realised_smape
    if standing is not None:
        line |= {k: v for k, v in asdict(standing).items() if k != "champion_version"}
    return line
