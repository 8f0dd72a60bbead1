"""One training run: validate the data, fit the model and backtest it, log it to MLflow,
register a version and decide whether it takes the alias. Any failure ends the run as FAILED and
never moves the alias. A CSV with the series column holds many series (`panel.py`)."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    MLFLOW_HTTP_REQUEST_TIMEOUT,
    MLFLOW_LOG_UV_FILES,
)
from mlflow.tracking import MlflowClient

from services.forecasting import backtest
from services.forecasting.data import Series, parse_csv, read_bytes, validate
from services.forecasting.forecaster import Forecaster
from services.forecasting.models import Spec
from services.forecasting.panel import header
from services.forecasting.pyfunc import log_forecaster
from services.forecasting.selection import Selection, select
from services.trainer.config import TrainConfig
from services.trainer.panel import PanelSummary, train_panel
from services.trainer.points import log_training, training_frame
from services.trainer.promote import promote
from services.trainer.report import forecast_figure

log = logging.getLogger("mlstack.train")

SCORES = ("smape", "mase", "rmse", "mae", "coverage")


class MlflowUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class TrainSummary:
    run_id: str
    version: str
    model: str
    smape: float | None  # the backtest's scores; None for a series too short for one
    mase: float | None
    rmse: float | None
    mae: float | None
    coverage: float | None
    promoted: bool
    reason: str
    champion_version: str | None
    champion_smape: float | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def train(cfg: TrainConfig) -> TrainSummary | PanelSummary:
    client = reach_mlflow(cfg)
    experiment = mlflow.set_experiment(cfg.experiment_name)
    run = mlflow.start_run(experiment_id=experiment.experiment_id)
    try:
        with run:  # ends FINISHED, or FAILED on any exception while MLflow answers
            return _train(cfg, client, run.info.run_id)
    except Exception as exc:
        _never_left_running(client, run.info.run_id, cfg, exc)
        raise


def _train(cfg: TrainConfig, client: MlflowClient, run_id: str) -> TrainSummary | PanelSummary:
    """The run's work: data, fit, backtest, log, register, promote (each series of a panel)."""
    log.info("run %s in experiment %r", run_id, cfg.experiment_name)
    log.info("data: %s", cfg.data_uri)
    raw = read_bytes(cfg.data_uri, cfg.data_timeout_seconds)
    _score_served(cfg, client, raw)
    if cfg.id_column in header(raw):
        return train_panel(cfg, client, run_id, raw)
    series, horizon = _load(cfg, raw)
    y, m = series.y, series.frequency.season_length
    selection = select(y, m, horizon, cfg.families, progress=log.info)
    for note in selection.notes:
        log.info("  %s", note)
    forecaster = Forecaster(selection.fitted, series.frequency, series.ds[-1])
    _log_run(cfg, series, selection, forecaster, horizon)
    logged = log_forecaster(forecaster, cfg.model_name, cfg.series_id)
    version = str(logged.registered_model_version)
    log.info("registered %s version %s", cfg.model_name, version)
    best = selection.backtest
    rescore = partial(_rescore, y=y, folds=selection.folds, m=m)
    decision = promote(
        client,
        cfg.model_name,
        cfg.model_alias,
        version,
        None if best is None else best.smape,
        rescore,
        move=cfg.promote,
        degradation=cfg.degradation_ratio if cfg.promote_if_degraded else None,
    )
    mlflow.set_tags(
        {"decision": "promoted" if decision.promoted else "rejected", "reason": decision.reason}
    )
    log.info("%s: %s", "promoted" if decision.promoted else "not promoted", decision.reason)
    return TrainSummary(
        run_id=run_id,
        version=version,
        model=selection.fitted.spec.label,
        **{k: round(best.scores[k], 6) if best else None for k in SCORES},
        promoted=decision.promoted,
        reason=decision.reason,
        champion_version=decision.champion_version,
        champion_smape=decision.champion_smape,
    )


def _score_served(cfg: TrainConfig, client: MlflowClient, raw: bytes) -> None:
    """Score the served version on the data first (its realised accuracy, which promotion
    reads); a failure to score is logged and never stops the training."""
    from services.trainer.score import ScoreError, score

    try:
        summary = score(cfg, client, raw)
    except ScoreError as exc:  # nothing served yet
        log.info("not scoring: %s", exc)
    except Exception as exc:
        log.warning("scoring the served version failed (training goes on): %s", _first_line(exc))
    else:
        log.info("scored the served version: %s", summary.to_json())


def configure_mlflow(cfg: TrainConfig) -> None:
    """Set up this process's MLflow client from the trainer's settings: the server, how long a
    request may take and how often it is retried, and what a logged model carries.

    MLflow reads the last three only from the environment, at each call
    (`mlflow.environment_variables`), and its fluent API has no other way to set them; so this
    is the one place the trainer writes them, before its first MLflow call."""
    if cfg.mlflow_tracking_uri:
        mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    # MLflow's own retries run for minutes by default; short ones keep our deadlines.
    MLFLOW_HTTP_REQUEST_TIMEOUT.set(cfg.mlflow_http_request_timeout)
    MLFLOW_HTTP_REQUEST_MAX_RETRIES.set(cfg.mlflow_http_request_max_retries)
    # Our pip requirements describe the model's environment; without this MLflow copies the
    # whole project's uv.lock (800 KB) into every model when run from a checkout.
    if not MLFLOW_LOG_UV_FILES.is_set():
        MLFLOW_LOG_UV_FILES.set("false")


def reach_mlflow(cfg: TrainConfig) -> MlflowClient:
    """Point MLflow at the server and wait (bounded, with backoff) until it answers."""
    from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

    configure_mlflow(cfg)
    uri = mlflow.get_tracking_uri()

    @retry(
        stop=stop_after_delay(cfg.mlflow_timeout_seconds),
        wait=wait_exponential(multiplier=0.5, max=8),
        retry=retry_if_exception_type(OSError),
        before_sleep=lambda state: log.info("MLflow at %s not reachable yet; retrying", uri),
        reraise=True,
    )
    def ping() -> None:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5):
            pass

    if uri.startswith(("http://", "https://")):
        try:
            ping()
        except OSError as exc:
            raise MlflowUnavailable(
                f"MLflow at {uri} is unreachable after {cfg.mlflow_timeout_seconds:.0f}s: {exc}"
            ) from exc
    return MlflowClient()


def _never_left_running(
    client: MlflowClient, run_id: str, cfg: TrainConfig, exc: Exception
) -> None:
    """After a failed run: when MLflow itself failed, the `with` block could not mark the run
    FAILED, so wait for MLflow to answer again (bounded), mark it, and raise MlflowUnavailable
    naming the outage. Otherwise the run is FAILED already and `exc` stands."""
    try:
        status = client.get_run(run_id).info.status
    except Exception:  # MLflow does not answer: it is what failed
        status = "RUNNING"
    if status != "RUNNING":
        return
    reason = _first_line(exc)
    wait = cfg.mlflow_recovery_seconds
    log.warning(
        "MLflow failed during run %s (%s); marking the run FAILED once MLflow answers "
        "(waiting up to %.0fs)",
        run_id,
        reason,
        wait,
    )
    try:
        _retrying(wait)(client.set_terminated)(run_id, "FAILED")
        log.info("run %s marked FAILED", run_id)
    except Exception as err:
        log.error("run %s is left RUNNING: MLflow did not answer for %.0fs (%s)", run_id, wait, err)
    uri = mlflow.get_tracking_uri()
    raise MlflowUnavailable(f"MLflow at {uri} failed during run {run_id}: {reason}") from exc


def _retrying(seconds: float) -> Any:
    """Retry a call on any error, with backoff, for at most `seconds`."""
    from tenacity import retry, stop_after_delay, wait_exponential

    return retry(
        stop=stop_after_delay(seconds), wait=wait_exponential(multiplier=0.5, max=8), reraise=True
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _load(cfg: TrainConfig, raw: bytes) -> tuple[Series, int]:
    """The series to fit (its most recent points) and the horizon to backtest."""
    frame = parse_csv(raw, cfg.ds_column, cfg.y_column)
    series = validate(frame, cfg.freq, cfg.season_length)
    for repair in series.repairs:
        log.info("  repaired: %s", repair)
    m = series.frequency.season_length
    horizon = cfg.horizon or series.frequency.default_horizon
    points = backtest.window(len(series), horizon, m, cfg.max_train_points)
    if points < len(series):
        log.info("  fitting on the last %d of %d points", points, len(series))
        keep = slice(-points, None)
        series = Series(
            series.ds[keep], series.y[keep], series.frequency, series.fingerprint, series.repairs
        )
    log.info(
        "  %d points, %s (season length %d), %s to %s",
        len(series),
        series.frequency.name,
        series.frequency.season_length,
        series.ds[0].date(),
        series.ds[-1].date(),
    )
    frame = pd.DataFrame({"ds": series.ds, "y": series.y})
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
        frame, source=cfg.data_uri, name=Path(cfg.data_uri).name, digest=series.fingerprint
    )
    mlflow.log_input(dataset, context="training")
    log_training([training_frame(cfg.series_id, series.ds, series.y)])
    return series, horizon


def _log_run(
    cfg: TrainConfig, series: Series, selection: Selection, forecaster: Forecaster, horizon: int
) -> None:
    spec = selection.fitted.spec
    mlflow.log_params(
        {
            "family": spec.family,
            "model": spec.label[:500],
            "spec": spec.to_json(),
            "frequency": series.frequency.alias,
            "season_length": series.frequency.season_length,
            "horizon": horizon,
            "folds": len(selection.folds.origins) if selection.folds else 0,
            "n_points": len(series),
            "data_fingerprint": series.fingerprint,
            "families": ",".join(cfg.families) if cfg.families else "default",
            "series_id": cfg.series_id,
        }
    )
    mlflow.set_tags(
        {
            "data_uri": cfg.data_uri,
            "repairs": "; ".join(series.repairs) or "none",
            "notes": "; ".join(selection.notes) or "none",
        }
    )
    if selection.backtest is not None:
        mlflow.log_metrics(selection.backtest.scores)
        mlflow.log_table(backtest.table(list(selection.backtests)), "backtest.json")
    future = forecaster.forecast(horizon)
    figure = forecast_figure(series, future, selection, f"{cfg.model_name}: {spec.label}")
    mlflow.log_figure(figure, "forecast.png")
    import matplotlib.pyplot as plt

    plt.close(figure)  # pyplot keeps every figure alive otherwise: a leak in long-lived callers


def _rescore(spec: Spec, y: np.ndarray, folds: backtest.Folds | None, m: int) -> float | None:
    """The champion's spec refitted and scored on the challenger's folds."""
    if folds is None:
        return None
    try:
        return backtest.run(spec, y, folds, m).smape
    except backtest.BacktestFailed as exc:
        log.info("  champion spec %s could not be refitted: %s", spec.label, exc)
        return None
