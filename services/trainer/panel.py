"""One training run over many series: check every series, fit them in parallel, log one model
version that holds them all (with the per-series table and summary metrics), and promote it by
the per-series rule. Called inside the run `run.train` opened, so any failure ends it FAILED."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from services.forecasting import backtest, forecasters
from services.forecasting.data import DataError
from services.forecasting.panel import EXCLUDED, FLOOR, Entry, Panel, parse_panel, validate_panel
from services.forecasting.pyfunc import log_forecasters
from services.registry import ClientRegistry, Version
from services.trainer import parallel
from services.trainer.config import TrainConfig
from services.trainer.fit import TRAINED, Rescore, Result, Task, fit_batch, rescore_batch
from services.trainer.points import log_training, training_frame
from services.trainer.promote import Rule, promote_panel

log = logging.getLogger("mlstack.train")

SCORES = ("smape", "mase", "rmse", "mae", "coverage")
SHOWN_PROBLEMS = 20  # logged one by one; all of them are in the run's series.json


@dataclass(frozen=True)
class PanelSummary:
    run_id: str
    version: str
    series: int
    trained: int
    floor: int
    excluded: int
    smape_mean: float | None
    smape_median: float | None
    mase_mean: float | None
    mase_median: float | None
    beats_naive_share: float | None
    promoted: bool
    reason: str
    champion_version: str | None
    champion_smape: float | None
    challenger_smape: float | None  # the mean over the series compared with the champion

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def train_panel(cfg: TrainConfig, client: MlflowClient, run_id: str, raw: bytes) -> PanelSummary:
    panel = _load(cfg, raw)
    horizon = cfg.horizon or panel.frequency.default_horizon
    tasks = {e.unique_id: _task(e, horizon, cfg) for e in panel.trainable}
    log_training([_fitted_points(t) for t in tasks.values()])
    started = time.perf_counter()
    results = parallel.run(
        fit_batch,
        list(tasks.values()),
        cfg.train_workers,
        cfg.dask_scheduler_address,
        failed=lambda r: r.status != TRAINED,
        # What fitted them, as found when fitting starts (how many workers had joined).
        where=lambda found: mlflow.set_tag("fitted_on", found),
    )
    # The fitting's wall time, the pool's start included: the rest of the run's is reading,
    # logging, registration and promotion.
    fit_seconds = time.perf_counter() - started
    fitted = {r.unique_id: r for r in results}
    table = series_table(panel, fitted)
    lines = {uid: r.line for uid, r in fitted.items() if r.line is not None}
    if not lines:
        raise DataError(f"no series can be trained: all {len(panel.entries)} failed to fit")
    metrics = summary_metrics(table)
    metrics["fit_seconds"] = fit_seconds
    _log_run(cfg, panel, table, metrics, horizon)
    version = str(log_forecasters(lines, cfg.model_name).registered_model_version)
    log.info("registered %s version %s (%d series)", cfg.model_name, version, len(lines))
    challenger = {uid: (fitted[uid].scores or {}).get("smape") for uid in lines}
    decision, verdicts = promote_panel(
        client,
        cfg.model_name,
        cfg.model_alias,
        version,
        challenger,
        partial(_champion_scores, client, cfg, tasks, challenger),
        Rule(cfg.max_regressed, cfg.regression_tolerance),
        move=cfg.promote,
        degradation=cfg.degradation_ratio if cfg.promote_if_degraded else None,
    )
    if verdicts is not None:
        mlflow.log_table(verdicts, "promotion.json")
    outcome = "promoted" if decision.promoted else "rejected"
    mlflow.set_tags({"decision": outcome, "reason": decision.reason, **decision.extra})
    log.info("%s: %s", "promoted" if decision.promoted else "not promoted", decision.reason)
    mean = decision.extra.get("challenger_smape")
    return PanelSummary(
        run_id=run_id,
        version=version,
        series=len(panel.entries),
        trained=int((table["status"] == TRAINED).sum()),
        floor=int((table["status"] == FLOOR).sum()),
        excluded=int((table["status"] == EXCLUDED).sum()),
        **{k: metrics.get(k) for k in _SUMMARY_METRICS},
        promoted=decision.promoted,
        reason=decision.reason,
        champion_version=decision.champion_version,
        champion_smape=decision.champion_smape,
        challenger_smape=None if mean is None else float(mean),
    )


_SUMMARY_METRICS = ("smape_mean", "smape_median", "mase_mean", "mase_median", "beats_naive_share")


def _load(cfg: TrainConfig, raw: bytes) -> Panel:
    frame = parse_panel(raw, cfg.id_column, cfg.ds_column, cfg.y_column)
    panel = validate_panel(frame, cfg.freq, cfg.season_length)
    log.info(
        "  %d series in %d rows, %s (season length %d): %d to fit, %d with the floor, %d left out",
        len(panel.entries),
        panel.rows,
        panel.frequency.name,
        panel.frequency.season_length,
        panel.count("ok"),
        panel.count(FLOOR),
        len(panel.entries) - len(panel.trainable),
    )
    problems = [e for e in panel.entries if e.status != "ok"]
    for entry in problems[:SHOWN_PROBLEMS]:
        log.info("  %s: %s", "floor" if entry.status == FLOOR else "left out", entry.message)
    if len(problems) > SHOWN_PROBLEMS:
        log.info("  ... and %d more (the run's series.json)", len(problems) - SHOWN_PROBLEMS)
    summary = pd.DataFrame(
        {
            "unique_id": [e.unique_id for e in panel.trainable],
            "start": [str(e.series.ds[0]) for e in panel.trainable],  # type: ignore[union-attr]
            "points": [len(e.series) for e in panel.trainable],  # type: ignore[arg-type]
        }
    )
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
        summary, source=cfg.data_uri, name=Path(cfg.data_uri).name, digest=panel.fingerprint
    )
    mlflow.log_input(dataset, context="training")
    return panel


def _task(entry: Entry, horizon: int, cfg: TrainConfig) -> Task:
    series = entry.series
    assert series is not None
    points = backtest.window(
        len(series), horizon, series.frequency.season_length, cfg.max_train_points
    )
    return Task(
        unique_id=entry.unique_id,
        y=series.y[-points:],
        frequency=series.frequency,
        last_ds=series.ds[-1],
        horizon=horizon,
        families=cfg.families,
        floor_reason=entry.reason if entry.status == FLOOR else "",
    )


def _fitted_points(task: Task) -> pd.DataFrame:
    """A task's points with their dates (a checked series is on its frequency's grid)."""
    dates = pd.date_range(end=task.last_ds, periods=task.y.size, freq=task.frequency.alias)
    return training_frame(task.unique_id, dates, task.y)


def series_table(panel: Panel, fitted: dict[str, Result]) -> pd.DataFrame:
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
        rows.append(row)
    return pd.DataFrame(rows)


def summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Mean and median per-series SMAPE and MASE, the share beating seasonal naive on the same
    folds, and the counts of series by outcome and by chosen family."""
    metrics: dict[str, float] = {}
    for key in ("smape", "mase", "coverage"):
        values = table[key].to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]  # a MASE of a flat history is infinite
        if values.size:
            metrics[f"{key}_mean"] = float(values.mean())
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


def _log_run(
    cfg: TrainConfig, panel: Panel, table: pd.DataFrame, metrics: dict[str, float], horizon: int
) -> None:
    where = cfg.dask_scheduler_address or f"{cfg.train_workers or 'all'} local processes"
    mlflow.log_params(
        {
            "frequency": panel.frequency.alias,
            "season_length": panel.frequency.season_length,
            "horizon": horizon,
            "n_series": len(panel.entries),
            "n_rows": panel.rows,
            "data_fingerprint": panel.fingerprint,
            "families": ",".join(cfg.families) if cfg.families else "default",
            "id_column": cfg.id_column,
            "parallel": where[:500],
        }
    )
    mlflow.set_tags({"data_uri": cfg.data_uri, "series": str(len(panel.entries))})
    mlflow.log_metrics(metrics)
    mlflow.log_table(table, "series.json")


def _champion_scores(
    client: MlflowClient,
    cfg: TrainConfig,
    tasks: dict[str, Task],
    challenger: dict[str, float | None],
    champion: Version,
) -> tuple[set[str], dict[str, float | None]] | None:
    """The series the champion knows, and its spec of each refitted on the challenger's folds
    (those the challenger has scored), in parallel like training; None when unreadable."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = ClientRegistry(client).download(cfg.model_name, champion.version, Path(tmp))
            known = forecasters.load(folder)
        except Exception as exc:  # another kind of model, or a broken one: not comparable
            log.info("  champion v%s cannot be read per series: %s", champion.version, exc)
            return None
    jobs = [
        Rescore(
            uid, tasks[uid].y, tasks[uid].frequency.season_length, tasks[uid].horizon, f.fitted.spec
        )
        for uid, f in known.items()
        if challenger.get(uid) is not None
    ]
    log.info("  refitting champion v%s on %d series' folds", champion.version, len(jobs))
    scored = parallel.run(
        rescore_batch, jobs, cfg.train_workers, cfg.dask_scheduler_address, what="champion series"
    )
    return set(known), dict(scored)
