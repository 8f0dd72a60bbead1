"""What a training run logs to MLflow, for any number of series: the data (what was read, the
dataset with its fingerprint, the points fitted), then the run's params, tags, summary metrics,
its per-series table (`series.json`), and for the series it shows (`fit.SHOWN`, the first ids)
their backtests (`backtest.json`), their forecast plot (`forecast.png`) and their progress."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import mlflow
import pandas as pd

from services.forecasting import backtest, ensemble
from services.forecasting.forecaster import Forecaster
from services.forecasting.global_model import GlobalForecasts
from services.forecasting.panel import FLOOR, OK, Panel
from services.forecasting.panelfit import PanelFit
from services.forecasting.specs import z
from services.trainer.config import TrainConfig
from services.trainer.fit import Result, Task
from services.trainer.points import log_training, training_frame
from services.trainer.report import Shown, forecast_figure
from services.trainer.summary import typical

log = logging.getLogger("mlstack.train")

LISTED = 20  # problems, repairs and notes named one by one; all of them are in series.json


def log_data(cfg: TrainConfig, panel: Panel, tasks: Sequence[Task]) -> None:
    """What was read, and the dataset: the points each series is fitted on."""
    log.info(
        "  %d series in %d rows, %s (season length %d): %d to train, %d floor, %d excluded",
        len(panel.entries),
        panel.rows,
        panel.frequency.name,
        panel.frequency.season_length,
        panel.count(OK),
        panel.count(FLOOR),
        len(panel.entries) - len(panel.trainable),
    )
    problems = [e for e in panel.entries if e.status != "ok"]
    for line in _listed(
        [("floor" if e.status == FLOOR else "excluded", e.message) for e in problems]
    ):
        log.info("  %s", line)
    repairs = [(e.unique_id, r) for e in panel.trainable for r in e.series.repairs]  # type: ignore[union-attr]
    for line in _listed(repairs):
        log.info("  repaired: %s", line)
    points = pd.concat([training_frame(t.unique_id, t.ds, t.y) for t in tasks], ignore_index=True)
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
        points, source=cfg.data_uri, name=Path(cfg.data_uri).name, digest=panel.fingerprint
    )
    mlflow.log_input(dataset, context="training")
    log_training(points)


def log_run(
    cfg: TrainConfig,
    panel: Panel,
    tasks: Sequence[Task],
    results: Mapping[str, Result],
    table: pd.DataFrame,
    metrics: Mapping[str, float],
) -> None:
    horizon = tasks[0].horizon
    model = typical(results)
    where = cfg.dask_scheduler_address or f"{cfg.train_workers or 'all'} local processes"
    params: dict[str, object] = {
        "frequency": panel.frequency.alias,
        "season_length": panel.frequency.season_length,
        "horizon": horizon,
        "n_series": len(panel.entries),
        "n_rows": panel.rows,
        "n_points": sum(t.y.size for t in tasks),
        "folds": int(table["folds"].max()),
        "data_fingerprint": panel.fingerprint,
        "families": ",".join(cfg.families) if cfg.families else "default",
        "id_column": cfg.id_column,
        "series_id": cfg.series_id,
        "parallel": where[:500],
    }
    if model is not None and model.spec is not None:  # the model most series got
        spec = model.spec
        params |= {"family": spec.family, "model": spec.label[:500], "spec": spec.to_json()}
    mlflow.log_params(params)
    single = len(panel.entries) == 1  # a run of one series: its notes as they are
    notes = [(uid, n) for uid, r in results.items() for n in r.notes]
    mlflow.set_tags(
        {
            "data_uri": cfg.data_uri,
            "series": str(len(panel.entries)),
            "repairs": "; ".join(_listed(_repairs(panel), single)) or "none",
            "notes": "; ".join(_listed(notes, single)) or "none",
        }
    )
    mlflow.log_metrics(dict(metrics))
    mlflow.log_table(table, "series.json")
    _log_shown(cfg, tasks, results)


def log_choice(panel_fit: PanelFit, learned: GlobalForecasts | None) -> None:
    """The panel's choice of combination (every candidate's validation SMAPE, the windows, the
    reason) as tags and `selection.json`, its calibration, and the global model (its booster
    as LightGBM's text, `lightgbm.txt`, and its time)."""
    choice, calibrated = panel_fit.choice, panel_fit.calibration
    mlflow.set_tags(
        {
            "ensemble": choice.name,
            "ensemble_members": ",".join(choice.members),
            "ensemble_reason": choice.reason[:5000],
            "calibrated": "no" if calibrated is None else f"{calibrated.errors} errors",
        }
    )
    mlflow.log_dict(
        {
            "chosen": choice.name,
            "members": list(choice.members),
            "reason": choice.reason,
            "windows": choice.windows,
            "margin": ensemble.margin(choice.windows),
            "candidates": {
                name: {"members": list(members), "validation_smape": choice.losses.get(name)}
                for name, members in choice.candidates.items()
            },
            "calibration": None if calibrated is None else calibrated.state(),
        },
        "selection.json",
    )
    log.info("  ensemble: %s (%s)", choice.name, choice.reason)
    if calibrated is not None:
        mlflow.log_metric("interval_scale_95", calibrated.quantile(0.95) / z(0.95))
    if learned is not None:
        mlflow.log_metric("global_seconds", learned.seconds)
        if learned.model_text:
            mlflow.log_text(learned.model_text, "lightgbm.txt")


def _log_shown(cfg: TrainConfig, tasks: Sequence[Task], results: Mapping[str, Result]) -> None:
    """The shown series' progress, backtests and plot."""
    shown = []
    for task in (t for t in tasks if t.shown):
        result = results[task.unique_id]
        if result.detail is None or result.line is None or result.spec is None:
            continue  # left out: nothing to show
        for line in result.detail.progress:
            log.info("  %s: %s", task.unique_id, line)
        future = Forecaster.from_json(result.line).forecast(task.horizon)
        shown.append(Shown(task, result.spec.label, future, result.detail))
    tables = [
        backtest.table(list((d.backtest, *d.backtest.members))).assign(unique_id=s.task.unique_id)
        for s in shown
        if (d := s.detail).backtest is not None
    ]
    if tables:
        frame = pd.concat(tables, ignore_index=True)
        mlflow.log_table(frame[["unique_id", *frame.columns[:-1]]], "backtest.json")
    if shown:
        figure = forecast_figure(shown, cfg.model_name)
        mlflow.log_figure(figure, "forecast.png")
        import matplotlib.pyplot as plt

        plt.close(figure)  # pyplot keeps every figure alive otherwise: a leak in long-lived callers


def _repairs(panel: Panel) -> list[tuple[str, str]]:
    return [(e.unique_id, r) for e in panel.entries if e.series for r in e.series.repairs]


def _listed(items: Sequence[tuple[str, str]], plain: bool = False) -> list[str]:
    """`id: item` for the first `LISTED` items (`item` alone when `plain`), then how many more."""
    lines = [text if plain else f"{uid}: {text}" for uid, text in items[:LISTED]]
    if len(items) > LISTED:
        lines.append(f"... and {len(items) - LISTED} more (the run's series.json)")
    return lines
