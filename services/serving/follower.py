"""Following `models:/<name>@<alias>`: poll the registry, load a new version beside the served
one, warm it with one prediction, then swap. Failures never take the served model down.

Each version loaded and warmed from the registry is kept in the model cache (`modelcache.py`).
When the registry cannot be reached and nothing is served yet (a restart during an outage), the
cached version is served, once warmed, until the registry answers again: then the alias decides,
as always, and the cached copy is replaced by the registry's (even of the same version), or
dropped if the alias is unset. A registry that answers is never overruled by the cache.

Logging is per event, not per poll: an outage is logged when it starts and when it ends, a
broken version once (retries of it back off quietly), an unusable cache entry once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from services.registry import RegistryError, Version
from services.serving.holder import ModelHolder
from services.serving.loader import ModelLoader
from services.serving.modelcache import ModelCache
from services.serving.models import Model, warm
from services.serving.settings import Settings

log = logging.getLogger("mlstack.serving")

MAX_RETRY_SECONDS = 600.0  # a broken version is retried at most this rarely


@dataclass
class _Broken:
    attempts: int
    retry_at: float


class Follower:
    def __init__(
        self,
        settings: Settings,
        loader: ModelLoader,
        holder: ModelHolder,
        cache: ModelCache | None = None,
    ) -> None:
        self.settings = settings
        self.loader = loader
        self.holder = holder
        self.cache = cache
        self.metrics = holder.metrics
        self._errors = 0  # consecutive registry errors
        self._broken: dict[str, _Broken] = {}
        self._waiting_logged = False
        # The cache is read at most once, and only before the registry's first answer.
        self._cache_tried = cache is None
        self._cache_failed = False  # saving failed: warned once

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
        try:
            ref = await self._resolve()
        except RegistryError:
            if self.holder.current is None and not self._cache_tried:
                await self._serve_cached()
            return
        self._cache_tried = True  # the registry has answered: from now on it alone decides
        current = self.holder.current
        if ref is None:
            if current is not None and current.source == "cache":
                self._drop_cached()
            return
        if current is not None and current.source != "cache" and current.ref.version == ref.version:
            self.holder.refresh(ref)  # a later scoring retags the same version
            return
        broken = self._broken.get(ref.version)
        if broken is not None and time.monotonic() < broken.retry_at:
            return
        await self._load(ref)

    async def _resolve(self) -> Version | None:
        """What the alias points at (None while unset); RegistryError, counted and logged once
        per outage, when the registry cannot be read."""
        name, alias = self.settings.model_name, self.settings.model_alias
        try:
            ref = await asyncio.to_thread(self.loader.resolve, name, alias)
        except RegistryError as exc:
            self.metrics.registry_errors.inc()
            self.holder.registry_reachable = False
            self._errors += 1
            if self._errors == 1:
                log.warning("model registry unreachable, %s: %s", self._serving(), exc)
            raise
        self.holder.registry_reachable = True
        if self._errors:
            log.info("model registry reachable again after %d failed polls", self._errors)
            self._errors = 0
        if ref is None and not self._waiting_logged:
            log.info("no model at %s@%s yet; answering 503 until one is promoted", name, alias)
            self._waiting_logged = True
        return ref

    def _serving(self) -> str:
        """What the API does meanwhile, in words that are true now."""
        served = self.holder.current
        if served is not None:
            return f"still serving version {served.ref.version} ({served.source} copy)"
        if not self._cache_tried:
            return "nothing loaded yet: trying the model cache"
        return "nothing loaded: answering 503 until the registry answers"

    async def _load(self, ref: Version) -> None:
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(self.loader.load, ref)
            # Warm beside the served version: first-call costs are paid before any request.
            await asyncio.to_thread(warm, model)
        except Exception as exc:
            self._failed(ref, exc)
            return
        served = self.holder.build(ref, model, time.perf_counter() - started)
        previous = self.holder.swap(served)
        self._broken.pop(ref.version, None)
        was = previous.ref.version if previous else "none"
        if previous is not None and previous.source == "cache":
            was += " from the model cache"
        log.info(
            "serving %s version %s (was %s), loaded in %.2fs",
            ref.name,
            ref.version,
            was,
            served.load_seconds,
        )
        await self._keep(ref, model)

    async def _keep(self, ref: Version, model: Model) -> None:
        """Save the version just served to the model cache; a failure only costs the cache."""
        if self.cache is None:
            return
        try:
            await asyncio.to_thread(self.cache.save, ref, model)
        except Exception as exc:  # a read-only or full disk: serving goes on without it
            if not self._cache_failed:
                log.warning("model cache not written (%s): %s", type(exc).__name__, exc)
                self._cache_failed = True
            return
        self._cache_failed = False

    async def _serve_cached(self) -> None:
        """Serve the cached version, if there is a usable one: nothing is served and the
        registry cannot be reached."""
        assert self.cache is not None
        self._cache_tried = True
        name, alias = self.settings.model_name, self.settings.model_alias
        started = time.perf_counter()
        try:
            found = await asyncio.to_thread(self.cache.load, name, alias)
            if found is None:
                log.info(
                    "no cached version of %s@%s: answering 503 until the registry answers",
                    name,
                    alias,
                )
                return
            ref, model = found
            await asyncio.to_thread(warm, model)
        except Exception as exc:  # a damaged entry or a model that no longer loads or warms
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever it is
            log.warning(
                "model cache entry ignored, nothing loaded: answering 503 until the registry "
                "answers: %s",
                reason,
            )
            return
        self.holder.swap(self.holder.build(ref, model, time.perf_counter() - started, "cache"))
        log.info(
            "serving %s version %s from the model cache while the registry is unreachable",
            ref.name,
            ref.version,
        )

    def _drop_cached(self) -> None:
        """The registry answers that the alias is unset: the cached version is not served."""
        current = self.holder.current
        assert current is not None
        self.holder.clear()
        log.warning(
            "%s@%s is unset in the registry: stopped serving version %s from the model cache",
            current.ref.name,
            current.ref.alias,
            current.ref.version,
        )

    def _failed(self, ref: Version, exc: Exception) -> None:
        broken = self._broken.get(ref.version)
        attempts = broken.attempts + 1 if broken else 1
        wait = min(self.settings.model_poll_seconds * 2**attempts, MAX_RETRY_SECONDS)
        self._broken[ref.version] = _Broken(attempts, time.monotonic() + wait)
        if broken is None:
            self.metrics.reloads.labels("failure").inc()
            served = self.holder.current
            log.warning(
                "version %s of %s failed to load (%s: %s); %s",
                ref.version,
                ref.name,
                type(exc).__name__,
                exc,
                f"still serving version {served.ref.version}" if served else "nothing served",
            )
