"""The trainer's MLflow client: where the server is and how long each request may take, waiting
(bounded) for the server at start, and never leaving a run RUNNING when the server fails
during it."""

from __future__ import annotations

import logging
import urllib.request
from typing import Any

import mlflow
from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    MLFLOW_HTTP_REQUEST_TIMEOUT,
    MLFLOW_LOG_UV_FILES,
)
from mlflow.tracking import MlflowClient

from services.trainer.config import TrainConfig

log = logging.getLogger("mlstack.train")


class MlflowUnavailable(RuntimeError):
    pass


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
    _refuse_a_file_store(uri)

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


def _refuse_a_file_store(uri: str) -> None:
    """MLflow 3 refuses a `file:` or bare-path tracking store with a multi-screen error (and
    such a store has no registry to promote in): say so in one line, with the fix. MLflow's own
    opt-out, MLFLOW_ALLOW_FILE_STORE=true, lets it through."""
    from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE
    from mlflow.utils.uri import get_uri_scheme

    if get_uri_scheme(uri) in ("", "file") and not MLFLOW_ALLOW_FILE_STORE.get():
        raise MlflowUnavailable(
            f"MLFLOW_TRACKING_URI={uri} is a file store, which MLflow 3 no longer tracks in: "
            "use a database (sqlite:///path/to/mlflow.db) or a tracking server "
            "(http://host:5000, e.g. `mlstack up`)"
        )


def never_left_running(client: MlflowClient, run_id: str, cfg: TrainConfig, exc: Exception) -> None:
    """After a failed run: when MLflow itself failed, the `with` block could not mark the run
    FAILED, so wait for MLflow to answer again (bounded), mark it, and raise MlflowUnavailable
    naming the outage. Otherwise the run is FAILED already and `exc` stands."""
    try:
        status = client.get_run(run_id).info.status
    except Exception:  # MLflow does not answer: it is what failed
        status = "RUNNING"
    if status != "RUNNING":
        return
    reason = first_line(exc)
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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
