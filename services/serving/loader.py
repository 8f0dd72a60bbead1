"""Reading the registry and loading model versions from MLflow, behind a small protocol.

The follower talks to a `ModelLoader`, so tests and benchmarks can swap the MLflow-backed one
for their own; the default resolves the alias with the registry's get-by-alias call (searching
versions has returned empty aliases in MLflow 3.x), downloads the version's files and loads them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from services.forecasting.forecaster import ARTIFACT, FORMAT, FORMAT_KEY, Forecaster
from services.serving.mlflow_rest import MlflowRest, RestError


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


def _unset(exc: RestError) -> bool:
    # An unknown model is RESOURCE_DOES_NOT_EXIST; a known model without the alias is
    # INVALID_PARAMETER_VALUE "Registered model alias prod not found" (MLflow 3.17).
    return exc.code == "RESOURCE_DOES_NOT_EXIST" or (
        exc.code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message
    )


@dataclass(eq=False)
class JsonForecaster:
    """Our own forecaster, loaded from its JSON artifact without importing MLflow. MLflow's pyfunc
    of the same files is loaded only when a request needs MLflow's own scoring (CSV, `params`,
    unusual payloads), so those answers stay MLflow's."""

    forecaster: Forecaster
    folder: Path

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.forecaster.predict(data)

    @cached_property
    def pyfunc(self) -> Any:
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(str(self.folder))


def load_folder(folder: Path) -> Predictor:
    """The model in a downloaded model folder: our forecaster when its MLmodel says so."""
    import yaml  # type: ignore[import-untyped]

    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    if (mlmodel.get("metadata") or {}).get(FORMAT_KEY) == FORMAT:
        artifact = mlmodel["flavors"]["python_function"]["artifacts"][ARTIFACT]["path"]
        return JsonForecaster(Forecaster.from_json((folder / artifact).read_text()), folder)
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(folder))


class MlflowLoader:
    """Resolves and loads versions from an MLflow tracking server (registry + artifact proxy).

    On an HTTP tracking URI with the artifact proxy, nothing imports MLflow (`mlflow_rest.py`);
    other tracking URIs (a local SQLite store) and artifact stores go through MLflow's client.
    """

    def __init__(self, tracking_uri: str | None = None, timeout: float = 10.0) -> None:
        self.tracking_uri = tracking_uri
        self.timeout = timeout

    def _uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        import mlflow

        return str(mlflow.get_tracking_uri())

    def _http(self) -> bool:
        return self._uri().startswith(("http://", "https://"))

    def _rest(self) -> MlflowRest:
        return MlflowRest(self._uri(), self.timeout)

    def resolve(self, name: str, alias: str) -> ModelRef | None:
        try:
            version = self._version(name, alias)
        except RestError as exc:
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
        if self._http():
            params = {"name": name, "alias": alias}
            answer = self._rest().get("/api/2.0/mlflow/registered-models/alias", params)
            return dict(answer["model_version"])
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            found = MlflowClient(self._uri()).get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            raise RestError(str(exc.error_code), str(exc.message)) from exc
        tags = [{"key": k, "value": v} for k, v in (found.tags or {}).items()]
        return {"version": found.version, "run_id": found.run_id, "tags": tags}

    def _run_facts(self, run_id: str) -> tuple[dict[str, float], float | None]:
        if not run_id:
            return {}, None
        try:
            if self._http():
                run = self._rest().get("/api/2.0/mlflow/runs/get", {"run_id": run_id})["run"]
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
        if not self._http():
            from mlflow import MlflowClient

            client = MlflowClient(self._uri())
            return str(client.get_model_version_download_uri(ref.name, ref.version))
        params = {"name": ref.name, "version": ref.version}
        body = self._rest().get("/api/2.0/mlflow/model-versions/get-download-uri", params)
        return str(body["artifact_uri"])

    def _download(self, source: str, folder: Path) -> Path:
        """`source` (a model's artifact URI) downloaded into `folder`; the model's folder."""
        if self._http() and source.startswith("mlflow-artifacts:"):
            self._rest().download(urllib.parse.urlparse(source).path.strip("/"), folder)
            return folder
        import mlflow.artifacts

        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(folder), tracking_uri=self._uri()
        )
        return Path(local)

    def load(self, ref: ModelRef) -> Predictor:
        # Ask the registry where the files are, then download from there into a folder of our
        # own: `models:/` URIs resolve through the process-global registry URI (MLflow 3.17),
        # whatever tracking URI is passed, so they are avoided.
        source = self._download_uri(ref)
        folder = Path(tempfile.mkdtemp(prefix=f"mlstack-{ref.name}-{ref.version}-"))
        try:
            model = load_folder(self._download(source, folder))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # The files live as long as the model: requests in flight may still use a swapped-out one.
        weakref.finalize(model, shutil.rmtree, folder, True)
        return model
