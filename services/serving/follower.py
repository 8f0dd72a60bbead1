"""Following `models:/<name>@<alias>`: poll the registry, load a new version beside the served
one, warm it with one prediction, then swap. Failures never take the served model down.

Logging is per event, not per poll: an outage is logged when it starts and when it ends, a
broken version once (retries of it back off quietly).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from services.registry import RegistryError
from services.serving.forecasts import compute
from services.serving.holder import ModelHolder
from services.serving.loader import ModelLoader, ModelRef, warm_series
from services.serving.settings import Settings

log = logging.getLogger("mlstack.serving")

MAX_RETRY_SECONDS = 600.0  # a broken version is retried at most this rarely


@dataclass
class _Broken:
    attempts: int
    retry_at: float


class Follower:
    def __init__(self, settings: Settings, loader: ModelLoader, holder: ModelHolder) -> None:
        self.settings = settings
        self.loader = loader
        self.holder = holder
        self.metrics = holder.metrics
        self._errors = 0  # consecutive registry errors
        self._broken: dict[str, _Broken] = {}
        self._waiting_logged = False

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.poll()
            await asyncio.sleep(self._delay() * random.uniform(0.9, 1.1))

    def _delay(self) -> float:
        poll = self.settings.model_poll_seconds
        if not self._errors:
            return poll
        if self.holder.current is None:  # nothing served yet: retry soon, up to the interval
            return min(0.5 * 2 ** (self._errors - 1), poll)
        return min(poll * 2 ** (self._errors - 1), 4 * poll)  # serving: back off from the registry

    async def poll(self) -> None:
        """One look at the alias; loads and swaps when it points somewhere new."""
        ref = await self._resolve()
        if ref is None:
            return
        current = self.holder.current
        if current is not None and current.ref.version == ref.version:
            return
        broken = self._broken.get(ref.version)
        if broken is not None and time.monotonic() < broken.retry_at:
            return
        await self._load(ref)

    async def _resolve(self) -> ModelRef | None:
        name, alias = self.settings.model_name, self.settings.model_alias
        try:
            ref = await asyncio.to_thread(self.loader.resolve, name, alias)
        except RegistryError as exc:
            self.metrics.registry_errors.inc()
            self._errors += 1
            if self._errors == 1:
                log.warning("model registry unreachable, serving what is loaded: %s", exc)
            return None
        if self._errors:
            log.info("model registry reachable again after %d failed polls", self._errors)
            self._errors = 0
        if ref is None and not self._waiting_logged:
            log.info("no model at %s@%s yet; answering 503 until one is promoted", name, alias)
            self._waiting_logged = True
        return ref

    async def _load(self, ref: ModelRef) -> None:
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(self.loader.load, ref)
            # Warm beside the served version: first-call costs are paid before any request.
            await asyncio.to_thread(compute, model, 1, None, warm_series(model))
        except Exception as exc:
            self._failed(ref, exc)
            return
        served = self.holder.build(ref, model, time.perf_counter() - started)
        previous = self.holder.swap(served)
        self._broken.pop(ref.version, None)
        was = previous.ref.version if previous else "none"
        log.info(
            "serving %s version %s (was %s), loaded in %.2fs",
            ref.name,
            ref.version,
            was,
            served.load_seconds,
        )

    def _failed(self, ref: ModelRef, exc: Exception) -> None:
        broken = self._broken.get(ref.version)
        attempts = broken.attempts + 1 if broken else 1
        wait = min(self.settings.model_poll_seconds * 2**attempts, MAX_RETRY_SECONDS)
        self._broken[ref.version] = _Broken(attempts, time.monotonic() + wait)
        if broken is None:
            self.metrics.reloads.labels("failure").inc()
            log.warning(
                "version %s of %s failed to load (%s: %s); still serving %s",
                ref.version,
                ref.name,
                type(exc).__name__,
                exc,
                self.holder.current.ref.version if self.holder.current else "nothing",
            )
