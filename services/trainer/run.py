"""One training run, for a CSV of one series or of many (a panel of one, or of many): read and
check the data, fit every series (in this process, a process pool or a Dask cluster), log the
run and one model version that holds every series, and decide by the per-series rule whether it
takes the alias. Any failure ends the run as FAILED and never moves the alias."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial

import mlflow
from mlflow.tracking import MlflowClient

from services.forecasting.data import DataError
from services.forecasting.global_model import GlobalForecasts
from services.forecasting.panel import EXCLUDED, FLOOR, read_panel
from services.forecasting.panelfit import PanelFit, global_member
from services.forecasting.pyfunc import log_model
from services.forecasting.source import read_bytes
from services.trainer import fit, guards, parallel
from services.trainer.champion import champion_scores
from services.trainer.config import TrainConfig
from services.trainer.promote import Rule, promote
from services.trainer.runlog import log_choice, log_data, log_run
from services.trainer.summary import TrainSummary, series_table, summarise, summary_metrics, typical
from services.trainer.tracking import first_line, never_left_running, reach_mlflow

log = logging.getLogger("mlstack.train")


def train(cfg: TrainConfig) -> TrainSummary:
    client = reach_mlflow(cfg)
    experiment = mlflow.set_experiment(cfg.experiment_name)
    run = mlflow.start_run(experiment_id=experiment.experiment_id)
    try:
        with run:  # ends FINISHED, or FAILED on any exception while MLflow answers
            return _train(cfg, client, run.info.run_id)
    except Exception as exc:
        never_left_running(client, run.info.run_id, cfg, exc)
        raise


def _train(cfg: TrainConfig, client: MlflowClient, run_id: str) -> TrainSummary:
    """The run's work: data, fit, log, register, promote."""
    log.info("run %s in experiment %r", run_id, cfg.experiment_name)
    log.info("data: %s", cfg.data_uri)
    raw = read_bytes(cfg.data_uri, cfg.data_timeout_seconds)
    _score_served(cfg, client, raw)
    panel = read_panel(raw, cfg.columns, cfg.freq, cfg.season_length)
    horizon = cfg.horizon or panel.frequency.default_horizon
    tasks = fit.tasks(panel, horizon, cfg.families, cfg.max_train_points)
    log_data(cfg, panel, tasks)
    results, panel_fit, learned, fit_seconds = _fit(cfg, tasks)
    table = series_table(panel, results)
    lines = {uid: r.line for uid, r in results.items() if r.line is not None}
    if not lines:
        raise DataError(f"no series can be trained: all {len(panel.entries)} failed to fit")
    metrics = summary_metrics(table) | {"fit_seconds": fit_seconds}
    log_run(cfg, panel, tasks, results, table, metrics)
    log_choice(panel_fit, learned)
    version = str(log_model(lines, cfg.model_name).registered_model_version)
    log.info("registered %s version %s (%d series)", cfg.model_name, version, len(lines))
    challenger = {uid: (results[uid].scores or {}).get("smape") for uid in lines}
    decision, verdicts = promote(
        client,
        cfg.model_name,
        cfg.model_alias,
        version,
        challenger,
        partial(
            champion_scores,
            client,
            cfg,
            {t.unique_id: t for t in tasks},
            challenger,
            global_member(learned, horizon),
        ),
        Rule(cfg.max_regressed, cfg.regression_tolerance),
        move=cfg.promote,
        degradation=cfg.degradation_ratio if cfg.promote_if_degraded else None,
        screen=guards.screening(client, panel, tasks, cfg.replace_served),
        policy=cfg.promotion,
    )
    if verdicts is not None:
        mlflow.log_table(verdicts, "promotion.json")
    outcome = "promoted" if decision.promoted else "rejected"
    mlflow.set_tags({"decision": outcome, "reason": decision.reason, **decision.extra})
    log.info("%s: %s", "promoted" if decision.promoted else "not promoted", decision.reason)
    model = typical(results)
    label = None if model is None or model.spec is None else model.spec.label
    return summarise(run_id, version, table, metrics, label, decision)


def _fit(
    cfg: TrainConfig, tasks: Sequence[fit.Task]
) -> tuple[dict[str, fit.Result], PanelFit, GlobalForecasts | None, float]:
    """Each series' members (in parallel), the global member learned across them, then the
    panel's choice and calibration: each series' result by id, the panel's step, the global
    member's forecasts and the fitting's wall time (the pool's start included)."""
    started = time.perf_counter()
    fittings = parallel.run(
        fit.fit_batch,
        tasks,
        cfg.train_workers,
        cfg.dask_scheduler_address,
        outcome=lambda r: r.status,  # the summary's words
        outcomes=(fit.TRAINED, FLOOR, EXCLUDED),
        # What fitted them, as found when fitting starts (how many workers had joined).
        where=lambda found: mlflow.set_tag("fitted_on", found),
    )
    learned = _learn_global(cfg, tasks, fittings)
    results, panel_fit = fit.results(tasks, fittings, learned, cfg.families)
    return results, panel_fit, learned, time.perf_counter() - started


def _learn_global(
    cfg: TrainConfig, tasks: Sequence[fit.Task], fittings: Sequence[fit.Fitting]
) -> GlobalForecasts | None:
    """The global member; its failure leaves it out (the statistical members go on)."""
    try:
        learned = fit.learn_global(tasks, fittings, cfg.global_path, cfg.dask_scheduler_address)
    except Exception as exc:
        log.warning("the global model failed, left out: %s", first_line(exc))
        return None
    if learned is not None:
        log.info("  global model: %d series in %.1f s", len(learned.paths), learned.seconds)
    return learned


def _score_served(cfg: TrainConfig, client: MlflowClient, raw: bytes) -> None:
    """Score the served version on the data first (its realised accuracy, which promotion
    reads); a failure to score is logged and never stops the training."""
    from services.trainer.score import ScoreError, score

    try:
        summary = score(cfg, client, raw)
    except ScoreError as exc:  # nothing served yet
        log.info("not scoring: %s", exc)
    except Exception as exc:
        log.warning("scoring the served version failed (training goes on): %s", first_line(exc))
    else:
        log.info("scored the served version: %s", summary.to_json())
