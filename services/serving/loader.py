"""Reading the registry and loading model versions from MLflow, behind a small protocol.

The follower talks to a `ModelLoader`, so tests and benchmarks can swap the MLflow-backed one
for their own; the default reads the alias through `services/registry.py` (get-by-alias:
searching versions has returned empty aliases in MLflow 3.x), downloads the version's files and
loads them.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Protocol

from services.forecasting import forecasters
from services.registry import Registry, Version, connect
from services.serving.models import ForeignPyfunc, Model, OwnForecasters


class ModelLoader(Protocol):
    def resolve(self, name: str, alias: str) -> Version | None:
        """The version `alias` points at, with its run's metrics and end time; None when it is
        unset; RegistryError when unreadable."""
        ...

    def load(self, ref: Version) -> Model:
        """Download and load `ref`; raises on a broken or missing artifact."""
        ...


class ForeignRefused(RuntimeError):
    """A version that is not the project's own model, while ALLOW_FOREIGN_MODELS is off."""


def load_folder(folder: Path, allow_foreign: bool = False) -> Model:
    """The model in a downloaded model folder: our forecasters when its MLmodel says so, read
    from their JSON; any other pyfunc only when `allow_foreign` (loading it runs its code)."""
    try:
        return OwnForecasters(forecasters.load(folder), folder)
    except forecasters.ForeignModel as exc:
        if not allow_foreign:
            raise ForeignRefused(refusal(exc)) from None
    import mlflow.pyfunc  # any other pyfunc

    return ForeignPyfunc(mlflow.pyfunc.load_model(str(folder)))


def refusal(exc: Exception) -> str:
    return (
        f"not this project's model ({exc}); loading it would run its code in the API: set "
        "ALLOW_FOREIGN_MODELS=true to serve it"
    )


class MlflowLoader:
    """Resolves and loads versions from an MLflow tracking server (registry + artifact proxy).

    On an HTTP tracking URI with the artifact proxy, nothing imports MLflow (`RestRegistry`);
    other tracking URIs (a local SQLite store) and artifact stores go through MLflow's client.
    """

    def __init__(
        self, tracking_uri: str | None = None, timeout: float = 10.0, allow_foreign: bool = False
    ) -> None:
        self.tracking_uri = tracking_uri
        self.timeout = timeout
        self.allow_foreign = allow_foreign

    @cached_property
    def registry(self) -> Registry:
        return connect(self.tracking_uri, self.timeout)

    def resolve(self, name: str, alias: str) -> Version | None:
        version = self.registry.version(name, alias)
        if version is None:
            return None
        metrics, trained_at = self._run_facts(version.run_id)
        return replace(version, alias=alias, metrics=metrics, trained_at=trained_at)

    def _run_facts(self, run_id: str) -> tuple[dict[str, float], float | None]:
        if not run_id:
            return {}, None
        run = self.registry.run(run_id)
        raw = run.get("data", {}).get("metrics", [])
        metrics = {m["key"]: float(m["value"]) for m in raw} if isinstance(raw, list) else dict(raw)
        millis = run["info"].get("end_time") or run["info"].get("start_time")
        return metrics, (int(millis) / 1000 if millis else None)

    def load(self, ref: Version) -> Model:
        folder = Path(tempfile.mkdtemp(prefix=f"mlstack-{ref.name}-{ref.version}-"))
        return owning(folder, lambda: self._download(ref, folder))

    def _download(self, ref: Version, folder: Path) -> Model:
        """Our own model's two files (its MLmodel, then the JSON it names), never a pickle or
        code logged with it; a foreign model's files only when foreign models are allowed."""
        self.registry.download(ref.name, ref.version, folder, files=("MLmodel",))
        try:
            _, artifact = forecasters.artifact_file(folder)
        except forecasters.ForeignModel as exc:
            if not self.allow_foreign:
                raise ForeignRefused(refusal(exc)) from None
            return load_folder(self.registry.download(ref.name, ref.version, folder), True)
        self.registry.download(ref.name, ref.version, folder, files=(artifact,))
        return load_folder(folder)


def owning(folder: Path, load: Callable[[], Model]) -> Model:
    """The model `load` makes from the files in `folder`, which then live as long as the model
    (requests in flight may still use a swapped-out one); deleted at once if loading fails."""
    try:
        model = load()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(model, shutil.rmtree, folder, True)
    return model
