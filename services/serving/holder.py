"""The served model: one immutable `Served` at a time, swapped atomically.

A request takes `holder.current` once and uses that object to the end, so a swap never changes
the model under a request in flight; the old version (and its cache) is freed when the last
request using it finishes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from services.registry import Version
from services.serving.forecasts import ForecastCache, RenderedForecast
from services.serving.metrics import Metrics
from services.serving.models import Model
from services.serving.rules import Ask
from services.serving.schemas import ServedModel

# Where a served version was loaded from: the registry, or the local model cache
# (`modelcache.py`) while the registry could not be reached.
Source = Literal["registry", "cache"]


@dataclass
class Served:
    """A registered version, loaded here and answering requests."""

    ref: Version
    model: Model
    loaded_at: float
    load_seconds: float
    cache: ForecastCache[Ask]
    source: Source = "registry"
    model_json: bytes = field(init=False)  # `/predict`'s "model" object, serialised once

    def __post_init__(self) -> None:
        ref = self.ref
        shown = ServedModel(name=ref.name, version=ref.version, run_id=ref.run_id)
        self.model_json = shown.model_dump_json().encode()

    async def forecasts(self, asks: Sequence[Ask]) -> list[RenderedForecast]:
        """One forecast per (series, horizon, level), in order; cached per version."""
        return await self.cache.get_many(asks, self._compute)

    def _compute(self, key: Ask) -> RenderedForecast:
        return self.model.forecast(*key)


class ModelHolder:
    """Holds the served version and keeps the model gauges in step with it."""

    def __init__(self, metrics: Metrics, cache_bytes: int) -> None:
        self.metrics = metrics
        self.cache_bytes = cache_bytes
        self.current: Served | None = None
        self.registry_reachable = True  # as the follower's last look at the alias found it

    def build(
        self, ref: Version, model: Model, load_seconds: float, source: Source = "registry"
    ) -> Served:
        """A `Served` for a freshly loaded model, not yet visible to requests."""
        return Served(
            ref=ref,
            model=model,
            loaded_at=time.time(),
            load_seconds=load_seconds,
            cache=ForecastCache(self.cache_bytes, self._observe),
            source=source,
        )

    def swap(self, served: Served) -> Served | None:
        """Serve `served` from the next request on; returns the version it replaced."""
        previous, self.current = self.current, served
        self.metrics.served(
            served.ref,
            served.source,
            (previous.ref, previous.source) if previous else None,
            served.loaded_at,
            served.load_seconds,
        )
        return previous

    def refresh(self, ref: Version) -> None:
        """The registry's latest word on the served version (same name and version, tags and
        metrics as read this poll): `/model` and the accuracy gauges show it from now on."""
        served = self.current
        if served is None or (served.ref.name, served.ref.version) != (ref.name, ref.version):
            return
        if served.ref != ref:
            served.ref = ref  # one reference assignment: a request sees the old or the new ref
        self.metrics.accuracy.show(ref)

    def clear(self) -> None:
        previous, self.current = self.current, None
        self.metrics.model_loaded.set(0)
        if previous is not None:
            self.metrics.forget(previous.ref, previous.source)

    def _observe(self, key: Ask, forecast: RenderedForecast) -> None:
        observe = self.metrics.value.observe
        for value in forecast.yhat:
            observe(value)
