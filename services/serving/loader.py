"""Reading the registry and loading model versions from MLflow, behind a small protocol.

The follower talks to a `ModelLoader`, so tests and benchmarks can swap the MLflow-backed one
for their own; the default reads the alias through `services/registry.py` (get-by-alias:
searching versions has returned empty aliases in MLflow 3.x), downloads the version's files and
loads them.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from services.forecasting import forecasters
from services.forecasting.forecaster import Forecaster
from services.forecasting.forecasters import Forecasters
from services.registry import Registry, connect


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


@dataclass(eq=False)
class JsonForecaster:
    """Our own forecasters, one per series, loaded from their JSON artifact (one file for one
    series, JSON lines for many) without importing MLflow. MLflow's pyfunc of the same files is
    loaded only when a request needs MLflow's own scoring (CSV, `params`, unusual payloads), so
    those answers stay MLflow's."""

    by_id: Mapping[str, Forecaster]  # a model of many series builds each on first use
    folder: Path
    ids: tuple[str, ...] = field(init=False)  # sorted, for paging

    def __post_init__(self) -> None:
        self.ids = tuple(sorted(self.by_id))

    @property
    def only(self) -> Forecaster:
        """The forecaster of a model of one series."""
        (forecaster,) = self.by_id.values()
        return forecaster

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return Forecasters(self.by_id).predict(data)

    @cached_property
    def pyfunc(self) -> Any:
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(str(self.folder))


def load_folder(folder: Path) -> Predictor:
    """The model in a downloaded model folder: our forecasters when its MLmodel says so."""
    with contextlib.suppress(forecasters.ForeignModel):
        return JsonForecaster(forecasters.load(folder), folder)
    import mlflow.pyfunc  # any other pyfunc

    return mlflow.pyfunc.load_model(str(folder))


def series_of(model: Predictor) -> tuple[str, ...]:
    """The ids of the series `model` forecasts, sorted; none for a pyfunc that does not say."""
    return model.ids if isinstance(model, JsonForecaster) else ()


def warm_series(model: Predictor) -> str | None:
    """The series a first, warming forecast asks for: None unless the model has several."""
    ids = series_of(model)
    return ids[0] if len(ids) > 1 else None


class MlflowLoader:
    """Resolves and loads versions from an MLflow tracking server (registry + artifact proxy).

    On an HTTP tracking URI with the artifact proxy, nothing imports MLflow (`RestRegistry`);
    other tracking URIs (a local SQLite store) and artifact stores go through MLflow's client.
    """

    def __init__(self, tracking_uri: str | None = None, timeout: float = 10.0) -> None:
        self.tracking_uri = tracking_uri
        self.timeout = timeout

    @cached_property
    def registry(self) -> Registry:
        return connect(self.tracking_uri, self.timeout)

    def resolve(self, name: str, alias: str) -> ModelRef | None:
        version = self.registry.version(name, alias)
        if version is None:
            return None
        metrics, trained_at = self._run_facts(version.run_id)
        return ModelRef(
            name=name,
            version=version.version,
            run_id=version.run_id,
            alias=alias,
            metrics=metrics,
            tags=version.tags,
            trained_at=trained_at,
        )

    def _run_facts(self, run_id: str) -> tuple[dict[str, float], float | None]:
        if not run_id:
            return {}, None
        run = self.registry.run(run_id)
        raw = run.get("data", {}).get("metrics", [])
        metrics = {m["key"]: float(m["value"]) for m in raw} if isinstance(raw, list) else dict(raw)
        millis = run["info"].get("end_time") or run["info"].get("start_time")
        return metrics, (int(millis) / 1000 if millis else None)

    def load(self, ref: ModelRef) -> Predictor:
        folder = Path(tempfile.mkdtemp(prefix=f"mlstack-{ref.name}-{ref.version}-"))
        return owning(
            folder, lambda: load_folder(self.registry.download(ref.name, ref.version, folder))
        )


def owning(folder: Path, load: Callable[[], Predictor]) -> Predictor:
    """The model `load` makes from the files in `folder`, which then live as long as the model
    (requests in flight may still use a swapped-out one); deleted at once if loading fails."""
    try:
        model = load()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(model, shutil.rmtree, folder, True)
    return model
