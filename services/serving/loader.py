"""Reading the registry and loading model versions from MLflow, behind a small protocol.

The follower talks to a `ModelLoader`, so tests and benchmarks can swap the MLflow-backed one
for their own; the default resolves the alias with `get_model_version_by_alias` (searching
versions has returned empty aliases in MLflow 3.x) and loads `models:/<name>/<version>`.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
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


def _unset(exc: Any) -> bool:
    # An unknown model is RESOURCE_DOES_NOT_EXIST; a known model without the alias is
    # INVALID_PARAMETER_VALUE "Registered model alias prod not found" (MLflow 3.17).
    code, message = exc.error_code, str(exc.message)
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in message
    )


class MlflowLoader:
    """Resolves and loads versions from an MLflow tracking server (registry + artifact proxy).

    Registry reads on an HTTP tracking URI are single REST calls with a timeout and no retries:
    MLflow's client would retry each call up to 7 times with exponential backoff (minutes during
    an outage), and its knobs are process-wide environment variables. The follower backs off
    itself. Other tracking URIs (a local SQLite store) go through `MlflowClient`.
    """

    def __init__(self, tracking_uri: str | None = None, timeout: float = 10.0) -> None:
        self.tracking_uri = tracking_uri
        self.timeout = timeout

    def _uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        import mlflow

        return str(mlflow.get_tracking_uri())

    def resolve(self, name: str, alias: str) -> ModelRef | None:
        from mlflow.exceptions import MlflowException

        try:
            version = self._version(name, alias)
        except MlflowException as exc:
            if _unset(exc):
                return None  # no such model or alias yet: the registry answered, no outage
            raise RegistryError(f"reading {name}@{alias}: {exc.message}") from exc
        except Exception as exc:  # connection refused, timeouts, bad gateways
            raise RegistryError(f"reading {name}@{alias}: {exc}") from exc
        run_id = version.get("run_id") or ""
        metrics, trained_at = self._run_facts(run_id)
        return ModelRef(
            name=name,
            version=str(version["version"]),
            run_id=run_id,
            alias=alias,
            metrics=metrics,
            tags={t["key"]: t.get("value", "") for t in version.get("tags", [])},
            trained_at=trained_at,
        )

    def _version(self, name: str, alias: str) -> dict[str, Any]:
        uri = self._uri()
        if not uri.startswith(("http://", "https://")):
            from mlflow import MlflowClient

            found = MlflowClient(uri).get_model_version_by_alias(name, alias)
            tags = [{"key": k, "value": v} for k, v in (found.tags or {}).items()]
            return {"version": found.version, "run_id": found.run_id, "tags": tags}
        body = self._get("/api/2.0/mlflow/registered-models/alias", {"name": name, "alias": alias})
        return body["model_version"]

    def _run_facts(self, run_id: str) -> tuple[dict[str, float], float | None]:
        if not run_id:
            return {}, None
        try:
            if self._uri().startswith(("http://", "https://")):
                run = self._get("/api/2.0/mlflow/runs/get", {"run_id": run_id})["run"]
            else:
                from mlflow import MlflowClient

                run = MlflowClient(self._uri()).get_run(run_id).to_dictionary()
        except Exception as exc:
            raise RegistryError(f"reading run {run_id}: {exc}") from exc
        raw = run.get("data", {}).get("metrics", [])
        metrics = {m["key"]: float(m["value"]) for m in raw} if isinstance(raw, list) else dict(raw)
        millis = run["info"].get("end_time") or run["info"].get("start_time")
        return metrics, (int(millis) / 1000 if millis else None)

    def _download_uri(self, ref: ModelRef) -> str:
        if not self._uri().startswith(("http://", "https://")):
            from mlflow import MlflowClient

            client = MlflowClient(self._uri())
            return str(client.get_model_version_download_uri(ref.name, ref.version))
        params = {"name": ref.name, "version": ref.version}
        body = self._get("/api/2.0/mlflow/model-versions/get-download-uri", params)
        return str(body["artifact_uri"])

    def _get(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        creds = get_default_host_creds(self._uri())
        response = http_request(
            creds, endpoint, "GET", max_retries=0, timeout=self.timeout, params=params
        )
        return verify_rest_response(response, endpoint).json()

    def load(self, ref: ModelRef) -> Predictor:
        import mlflow.artifacts
        import mlflow.pyfunc

        # Ask the registry where the files are, then download from there into a folder of our
        # own: `models:/` URIs resolve through the process-global registry URI (MLflow 3.17),
        # whatever tracking URI is passed, so they are avoided.
        source = self._download_uri(ref)
        folder = tempfile.mkdtemp(prefix=f"mlstack-{ref.name}-{ref.version}-")
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=folder, tracking_uri=self._uri()
            )
            model = mlflow.pyfunc.load_model(local)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # The files live as long as the model: requests in flight may still use a swapped-out one.
        weakref.finalize(model, shutil.rmtree, folder, True)
        return model
