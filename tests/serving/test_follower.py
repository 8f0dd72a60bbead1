"""The alias follower's rules, poll by poll, with a scripted registry (no timing involved)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from services.registry import RegistryError, Version
from services.serving.follower import Follower
from services.serving.holder import ModelHolder
from services.serving.metrics import build_metrics
from services.serving.modelcache import CacheError
from services.serving.models import ForeignPyfunc
from services.serving.settings import Settings

from .factories import sample


class Model:
    def __init__(self, version: str) -> None:
        self.version = version

    def predict(self, data: pd.DataFrame, params: object = None) -> pd.DataFrame:
        n = int(data["n_periods"].iloc[0])
        return pd.DataFrame({"ds": ["2000-01-01"] * n, "yhat": [float(self.version)] * n})


class Registry:
    """A loader whose alias, outages and broken versions the test sets."""

    def __init__(self) -> None:
        self.alias: str | None = None
        self.down = False
        self.broken: set[str] = set()
        self.loads: list[str] = []
        self.tags: dict[str, str] = {}  # the aliased version's tags, as the registry has them

    def resolve(self, name: str, alias: str) -> Version | None:
        if self.down:
            raise RegistryError("connection refused")
        if self.alias is None:
            return None
        return Version(name, self.alias, f"run{self.alias}", alias=alias, tags=dict(self.tags))

    def load(self, ref: Version) -> ForeignPyfunc:
        self.loads.append(ref.version)
        if ref.version in self.broken:
            raise OSError("MLmodel not found")
        return ForeignPyfunc(Model(ref.version))


@dataclass
class Rig:
    follower: Follower
    registry: Registry
    holder: ModelHolder
    prom: CollectorRegistry

    def version(self) -> str | None:
        return self.holder.current.ref.version if self.holder.current else None


@pytest.fixture
def rig() -> Rig:
    prom = CollectorRegistry()
    holder = ModelHolder(build_metrics(prom), cache_bytes=64 * 1024)
    registry = Registry()
    settings = Settings(model_name="m", model_poll_seconds=30)
    return Rig(Follower(settings, registry, holder), registry, holder, prom)


def poll(follower: Follower, times: int = 1) -> None:
    async def run() -> None:
        for _ in range(times):
            await follower.poll()

    asyncio.run(run())


def test_nothing_is_served_while_the_alias_is_unset(rig: Rig) -> None:
    follower, prom = rig.follower, rig.prom
    poll(follower, 3)
    assert rig.version() is None
    assert sample(prom, "model_registry_errors_total") == 0
    assert sample(prom, "model_loaded") == 0


def test_a_new_version_is_loaded_warmed_and_swapped_in(rig: Rig) -> None:
    follower, registry, prom = rig.follower, rig.registry, rig.prom
    registry.alias = "1"
    poll(follower)
    registry.alias = "2"
    poll(follower, 2)
    assert rig.version() == "2"
    assert registry.loads == ["1", "2"]  # the served version is not loaded again
    assert sample(prom, "model_reloads_total", {"result": "success"}) == 2
    old = {"model_name": "m", "model_version": "1", "run_id": "run1", "source": "registry"}
    new = {**old, "model_version": "2", "run_id": "run2"}
    assert (sample(prom, "model_info", old), sample(prom, "model_info", new)) == (0, 1)


def test_a_broken_version_is_counted_and_logged_once_and_the_old_one_keeps_serving(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    follower, registry, prom = rig.follower, rig.registry, rig.prom
    registry.alias = "1"
    poll(follower)
    registry.alias, registry.broken = "2", {"2"}
    with caplog.at_level(logging.INFO, logger="mlstack.serving"):
        poll(follower, 10)
    assert rig.version() == "1"
    assert sample(prom, "model_reloads_total", {"result": "failure"}) == 1
    assert registry.loads.count("2") == 1  # retried only after a backoff, not every poll
    assert len([r for r in caplog.records if "failed to load" in r.getMessage()]) == 1


def test_a_version_that_fails_its_warm_up_is_not_served(rig: Rig) -> None:
    follower, registry, prom = rig.follower, rig.registry, rig.prom

    class Cold(Model):
        def predict(self, data: pd.DataFrame, params: object = None) -> pd.DataFrame:
            raise ValueError("cannot forecast")

    registry.load = lambda ref: Cold(ref.version)  # type: ignore[method-assign]
    registry.alias = "1"
    poll(follower)
    assert rig.version() is None
    assert sample(prom, "model_reloads_total", {"result": "failure"}) == 1


def test_a_registry_outage_keeps_the_model_and_is_counted_and_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    follower, registry, prom = rig.follower, rig.registry, rig.prom
    registry.alias = "1"
    poll(follower)
    registry.down = True
    with caplog.at_level(logging.INFO, logger="mlstack.serving"):
        poll(follower, 4)
        assert rig.version() == "1"
        assert sample(prom, "model_registry_errors_total") == 4
        registry.down = False
        poll(follower)
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "unreachable" in m]) == 1
    assert len([m for m in messages if "reachable again" in m]) == 1


def test_backoff_retries_fast_before_a_model_and_gently_after(rig: Rig) -> None:
    follower, registry = rig.follower, rig.registry
    registry.down = True
    poll(follower, 3)
    assert follower._delay() == 2.0  # 0.5, 1, 2: nothing served yet, so retry soon
    poll(follower, 10)
    assert follower._delay() == 30  # never slower than the poll interval before a model
    registry.down, registry.alias = False, "1"
    poll(follower)
    registry.down = True
    poll(follower, 10)
    assert follower._delay() == 120  # serving: back off up to four poll intervals


class Cache:
    """A model cache whose entry the test sets: a version, an unusable entry, or none."""

    def __init__(self) -> None:
        self.entry: str | Exception | None = None
        self.reads = 0
        self.saved: list[str] = []
        self.unwritable = False

    def load(self, name: str, alias: str) -> tuple[Version, ForeignPyfunc] | None:
        self.reads += 1
        if isinstance(self.entry, Exception):
            raise self.entry
        if self.entry is None:
            return None
        return Version(name, self.entry, f"run{self.entry}", alias=alias), ForeignPyfunc(
            Model(self.entry)
        )

    def save(self, ref: Version, model: object) -> bool:
        if self.unwritable:
            raise OSError("read-only file system")
        self.saved.append(ref.version)
        return True


@pytest.fixture
def cached(rig: Rig) -> Cache:
    """The rig's follower with a model cache."""
    cache = Cache()
    rig.follower = Follower(rig.follower.settings, rig.registry, rig.holder, cache)  # type: ignore[arg-type]
    return cache


def source(rig: Rig) -> str | None:
    return rig.holder.current.source if rig.holder.current else None


def test_every_version_served_from_the_registry_is_kept_in_the_cache(
    rig: Rig, cached: Cache
) -> None:
    rig.registry.alias = "1"
    poll(rig.follower)
    rig.registry.alias = "2"
    poll(rig.follower, 3)
    assert cached.saved == ["1", "2"]


def test_a_restart_during_an_outage_serves_the_cached_version_until_the_registry_answers(
    rig: Rig, cached: Cache
) -> None:
    follower, registry, prom = rig.follower, rig.registry, rig.prom
    cached.entry, registry.down = "1", True
    poll(follower, 3)
    assert (rig.version(), source(rig)) == ("1", "cache")
    labels = {"model_name": "m", "model_version": "1", "run_id": "run1"}
    assert sample(prom, "model_info", {**labels, "source": "cache"}) == 1
    assert cached.reads == 1  # read once, not per failed poll
    registry.down, registry.alias = False, "1"
    poll(follower)
    # The same version, now the registry's own copy: loaded again and swapped in.
    assert (rig.version(), source(rig), registry.loads) == ("1", "registry", ["1"])
    assert sample(prom, "model_info", {**labels, "source": "cache"}) == 0
    assert sample(prom, "model_info", {**labels, "source": "registry"}) == 1
    registry.alias = "2"
    poll(follower)
    assert (rig.version(), source(rig)) == ("2", "registry")


def test_with_the_registry_answering_the_cache_is_never_read(rig: Rig, cached: Cache) -> None:
    follower, registry = rig.follower, rig.registry
    cached.entry = "1"
    poll(follower, 2)  # the alias is unset: nothing to serve, and no cache either
    registry.down = True
    poll(follower, 3)  # the registry has answered once: an outage now does not bring it in
    assert (rig.version(), cached.reads) == (None, 0)


def test_the_cached_version_is_dropped_when_the_registry_answers_that_the_alias_is_unset(
    rig: Rig, cached: Cache
) -> None:
    follower, registry, prom = rig.follower, rig.registry, rig.prom
    cached.entry, registry.down = "1", True
    poll(follower)
    assert rig.version() == "1"
    registry.down = False  # alias still None
    poll(follower)
    assert rig.version() is None
    assert sample(prom, "model_loaded") == 0
    labels = {"model_name": "m", "model_version": "1", "run_id": "run1", "source": "cache"}
    assert sample(prom, "model_info", labels) == 0


def test_an_unusable_cache_entry_is_logged_once_and_nothing_is_served(
    rig: Rig, cached: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    cached.entry, rig.registry.down = (
        CacheError("x.json: JSONDecodeError: unexpected\ncharacter"),
        True,
    )
    with caplog.at_level(logging.INFO, logger="mlstack.serving"):
        poll(rig.follower, 5)
    assert rig.version() is None
    messages = [r.getMessage() for r in caplog.records]
    ignored = [m for m in messages if "cache entry ignored" in m]
    assert len(ignored) == 1
    assert "\n" not in ignored[0]
    assert "nothing loaded" in ignored[0]
    # Nothing is loaded: no line may say that something is being served.
    assert not [m for m in messages if "serving" in m and "nothing" not in m], messages


def test_a_cache_that_cannot_be_written_is_warned_once_and_serving_goes_on(
    rig: Rig, cached: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    cached.unwritable = True
    with caplog.at_level(logging.INFO, logger="mlstack.serving"):
        rig.registry.alias = "1"
        poll(rig.follower)
        rig.registry.alias = "2"
        poll(rig.follower)
    assert (rig.version(), source(rig)) == ("2", "registry")
    assert len([r for r in caplog.records if "model cache not written" in r.getMessage()]) == 1


def test_a_later_scoring_of_the_served_version_updates_its_gauges_without_a_reload(
    rig: Rig,
) -> None:
    labels = {"model_name": "m", "model_version": "1"}
    rig.registry.alias = "1"
    poll(rig.follower)
    assert rig.prom.get_sample_value("model_realised_smape", labels) is None
    rig.registry.tags = {"realised_smape": "12.5", "backtest_smape": "10", "scored_at": "100"}
    poll(rig.follower)
    assert rig.prom.get_sample_value("model_realised_smape", labels) == 12.5
    rig.registry.tags = {**rig.registry.tags, "realised_smape": "20", "scored_at": "200"}
    poll(rig.follower)
    assert rig.prom.get_sample_value("model_realised_smape", labels) == 20
    assert rig.prom.get_sample_value("model_last_scored_timestamp_seconds", labels) == 200
    assert rig.registry.loads == ["1"]  # tags are re-read each poll; the model is loaded once
    assert rig.holder.current is not None and rig.holder.current.ref.tags["scored_at"] == "200"
