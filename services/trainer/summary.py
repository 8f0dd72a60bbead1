"""What a run found, for any number of series: one row per series of the file (`series.json`),
the run's summary metrics over them, and the one JSON line `mlstack train` prints."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.forecasting.panel import EXCLUDED, FLOOR, Panel
from services.trainer.fit import TRAINED, Result
from services.trainer.promote import Decision

SCORES = ("smape", "mase", "rmse", "mae", "coverage")
MEDIANS = ("smape", "mase", "coverage")


@dataclass(frozen=True)
class TrainSummary:
    """The figures are the means over the series with a backtest (a run of one series: its own
    backtest's scores; None when no series had one), with the medians beside them."""

    run_id: str
    version: str
    model: str | None  # the model most series got (a run of one series: its model)
    series: int  # in the file
    trained: int
    floor: int
    excluded: int
    smape: float | None
    mase: float | None
    rmse: float | None
    mae: float | None
    coverage: float | None
    smape_median: float | None
    mase_median: float | None
    beats_naive_share: float | None  # of the series, those whose SMAPE beats seasonal naive's
    promoted: bool
    reason: str
    champion_version: str | None
    champion_smape: float | None  # the mean over the series compared with the champion
    challenger_smape: float | None  # this version's over the same series

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def series_table(panel: Panel, fitted: Mapping[str, Result]) -> pd.DataFrame:
    """One row per series of the file: what it got, why, and its backtest scores."""
    rows: list[dict[str, Any]] = []
    for entry in panel.entries:
        result = fitted.get(entry.unique_id)
        row: dict[str, Any] = {
            "unique_id": entry.unique_id,
            "status": EXCLUDED if result is None else result.status,
            "reason": entry.reason if result is None else result.reason,
            "model": None if result is None or result.spec is None else result.spec.label,
            "family": None if result is None or result.spec is None else result.spec.family,
            "points": 0 if entry.series is None else len(entry.series),
            "folds": 0 if result is None else result.folds,
        }
        scores = (result.scores if result else None) or {}
        row |= {k: scores.get(k) for k in SCORES}
        row["naive_smape"] = None if result is None else result.naive_smape
        row["notes"] = "; ".join(result.notes) if result else ""
        row["repairs"] = "" if entry.series is None else "; ".join(entry.series.repairs)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The mean of each score over the series that have it (a flat history's infinite MASE
    left out) and the median of some, the share beating seasonal naive on the same folds, and
    the counts of series by outcome and by chosen family."""
    metrics: dict[str, float] = {}
    for key in SCORES:
        values = table[key].to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size:
            metrics[key] = float(values.mean())
            if key in MEDIANS:
                metrics[f"{key}_median"] = float(np.median(values))
    both = table.dropna(subset=["smape", "naive_smape"])
    if len(both):
        metrics["beats_naive_share"] = float((both["smape"] < both["naive_smape"]).mean())
    metrics["series_total"] = float(len(table))
    for status, count in table["status"].value_counts().items():
        metrics[f"series_{status}"] = float(count)
    for family, count in table["family"].dropna().value_counts().items():
        metrics[f"series_family_{family}"] = float(count)
    return metrics


def typical(results: Mapping[str, Result]) -> Result | None:
    """The result whose model most series got (the first of them by id), preferring those that
    got the full model; None when no series was fitted."""
    fitted = sorted((r for r in results.values() if r.spec is not None), key=lambda r: r.unique_id)
    full = [r for r in fitted if r.status == TRAINED] or fitted
    if not full:
        return None
    label, _ = Counter(r.spec.label for r in full if r.spec).most_common(1)[0]
    return next(r for r in full if r.spec and r.spec.label == label)


def summarise(
    run_id: str,
    version: str,
    table: pd.DataFrame,
    metrics: Mapping[str, float],
    model: str | None,
    decision: Decision,
) -> TrainSummary:
    def figure(key: str) -> float | None:
        return round(metrics[key], 6) if key in metrics else None

    statuses = table["status"]
    return TrainSummary(
        run_id=run_id,
        version=version,
        model=model,
        series=len(table),
        trained=int((statuses == TRAINED).sum()),
        floor=int((statuses == FLOOR).sum()),
        excluded=int((statuses == EXCLUDED).sum()),
        **{k: figure(k) for k in (*SCORES, "smape_median", "mase_median", "beats_naive_share")},
        promoted=decision.promoted,
        reason=decision.reason,
        champion_version=decision.champion_version,
        champion_smape=decision.champion_smape,
        challenger_smape=decision.challenger_smape,
    )
