"""Reading the registry and loading model versions from MLflow, behind a small protocol.

The follower talks to a `ModelLoader`, so tests and benchmarks can swap the MLflow-backed one
for their own; the default resolves the alias with `get_model_version_by_alias` (searching
versions has returned empty aliases in MLflow 3.x) and loads `models:/<name>/<version>`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Protocol


class RegistryError(RuntimeError):
    """The registry could not be read (unreachable, timed out, or answered an error)."""


@dataclass(frozen=True)
class ModelRef:
    """One registered version: what `/model` and `model_info` describe."""

    name: str
    version: str
    run_id: str
    alias: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    trained_at: float | None = None  # the training run's end (or start) time, epoch seconds


class Predictor(Protocol):
    """The part of an MLflow `PyFuncModel` the API uses."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


class ModelLoader(Protocol):
    def resolve(self, name: str, alias: str) -> ModelRef | None:
        """The version `alias` points at, None when it is unset; RegistryError when unreadable."""
        ...

    def load(self, ref: ModelRef) -> Predictor:
        """Download and load `ref`; raises on a broken or missing artifact."""
        ...


# MLflow retries each HTTP call up to 7 times with exponential backoff by default, which would
# stall a poll for minutes during an outage; the follower has its own backoff instead.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


class MlflowLoader:
    """Resolves and loads versions from an MLflow tracking server (registry + artifact proxy)."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        self.tracking_uri = tracking_uri
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient  # heavy: imported once, off the startup path

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def resolve(self, name: str, alias: str) -> ModelRef | None:
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None  # no such model or alias yet: not an outage
            raise RegistryError(f"reading {name}@{alias}: {exc.message}") from exc
        except Exception as exc:  # connection refused, timeouts, bad gateways
            raise RegistryError(f"reading {name}@{alias}: {exc}") from exc
        metrics, trained_at = self._run_facts(version.run_id)
        return ModelRef(
            name=name,
            version=str(version.version),
            run_id=version.run_id or "",
            alias=alias,
            metrics=metrics,
            tags=dict(version.tags or {}),
            trained_at=trained_at,
        )

    def _run_facts(self, run_id: str | None) -> tuple[dict[str, float], float | None]:
        if not run_id:
            return {}, None
        try:
            run = self.client.get_run(run_id)
        except Exception as exc:
            raise RegistryError(f"reading run {run_id}: {exc}") from exc
        millis = run.info.end_time or run.info.start_time
        return dict(run.data.metrics), (millis / 1000 if millis else None)

    def load(self, ref: ModelRef) -> Predictor:
        import mlflow.artifacts
        import mlflow.pyfunc

        # Download into a folder of our own, then load from disk: the registry lookup and the
        # download use this loader's tracking URI, never a process-global one.
        folder = tempfile.mkdtemp(prefix=f"mlstack-{ref.name}-{ref.version}-")
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{ref.name}/{ref.version}",
            dst_path=folder,
            tracking_uri=self.tracking_uri,
        )
        return mlflow.pyfunc.load_model(local)
