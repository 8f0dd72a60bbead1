"""The forecast cache: bounded in bytes, shared by concurrent identical requests, optional; a
request for many series computes its misses together."""

from __future__ import annotations

import asyncio
import threading

import pandas as pd
import pytest

from services.serving.forecasts import ENTRY_OVERHEAD, ForecastCache, RenderedForecast
from services.serving.models import ForeignPyfunc

ROOMY = 64 * 1024  # bytes: room for every forecast these tests cache


def forecast(tag: str) -> RenderedForecast:
    return RenderedForecast(body=f'["{tag}"]'.encode(), yhat=(1.0,))


def test_a_cached_forecast_is_computed_once() -> None:
    computed: list[object] = []
    cache = ForecastCache(ROOMY, lambda key, fc: computed.append(key))
    calls = []

    async def run() -> None:
        for _ in range(3):
            await cache.get((3, None), lambda: calls.append(1) or forecast("a"))

    asyncio.run(run())
    assert len(calls) == 1
    assert computed == [(3, None)]


def test_concurrent_identical_misses_share_one_computation() -> None:
    release = threading.Event()
    calls = []

    def slow() -> RenderedForecast:
        calls.append(1)
        release.wait(10)
        return forecast("a")

    async def run() -> list[RenderedForecast]:
        cache = ForecastCache(ROOMY, lambda key, fc: None)
        waiting = [asyncio.ensure_future(cache.get((3, None), slow)) for _ in range(5)]
        await asyncio.sleep(0.05)  # let all five reach the cache before the work finishes
        release.set()
        return list(await asyncio.gather(*waiting))

    results = asyncio.run(run())
    assert len(calls) == 1
    assert {r.body for r in results} == {b'["a"]'}


def test_the_cache_holds_at_most_its_bytes_dropping_the_least_recently_used() -> None:
    entry = len(forecast("1").body) + ENTRY_OVERHEAD
    cache = ForecastCache(2 * entry + entry // 2, lambda key, fc: None)  # room for two
    calls: list[int] = []

    def work(h: int) -> RenderedForecast:
        calls.append(h)
        return forecast(str(h))

    async def run() -> None:
        for horizon in (1, 2, 1, 3):  # 1 is used again, so 2 is the one dropped for 3
            await cache.get((horizon, None), lambda h=horizon: work(h))
        await cache.get((1, None), lambda: work(1))
        await cache.get((2, None), lambda: work(2))

    asyncio.run(run())
    assert len(cache) == 2 and cache.nbytes <= 2 * entry + entry // 2
    assert calls == [1, 2, 3, 2]


def test_a_forecast_larger_than_the_whole_cache_is_answered_but_not_kept() -> None:
    cache = ForecastCache(ENTRY_OVERHEAD + 10, lambda key, fc: None)
    calls = []

    async def run() -> RenderedForecast:
        for _ in range(2):
            found = await cache.get((3, None), lambda: calls.append(1) or forecast("x" * 100))
        return found

    assert asyncio.run(run()).body == b'["' + b"x" * 100 + b'"]'
    assert len(calls) == 2 and len(cache) == 0 and cache.nbytes == 0


def test_the_misses_of_a_request_for_many_series_are_computed_in_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    computed: list[str] = []
    jobs: list[object] = []
    to_thread = asyncio.to_thread

    async def counted(func, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        jobs.append(func)
        return await to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counted)

    def work(key: tuple[str, int]) -> RenderedForecast:
        computed.append(key[0])
        return forecast(key[0])

    async def run() -> list[RenderedForecast]:
        cache = ForecastCache(ROOMY, lambda key, fc: None)
        await cache.get(("b", 3), lambda: work(("b", 3)))
        return await cache.get_many([("a", 3), ("b", 3), ("c", 3), ("a", 3)], work)

    found = asyncio.run(run())
    assert [f.body for f in found] == [b'["a"]', b'["b"]', b'["c"]', b'["a"]']  # request order
    assert computed == ["b", "a", "c"]  # "b" was cached, "a" asked twice is computed once
    assert len(jobs) == 2  # "b" alone, then "a" and "c" together


def test_a_request_waits_for_a_series_another_request_is_computing() -> None:
    release = threading.Event()
    calls: list[str] = []

    def work(key: tuple[str, int]) -> RenderedForecast:
        calls.append(key[0])
        if key[0] == "a":
            release.wait(10)
        return forecast(key[0])

    async def run() -> list[RenderedForecast]:
        cache = ForecastCache(ROOMY, lambda key, fc: None)
        first = asyncio.ensure_future(cache.get_many([("a", 3)], work))
        await asyncio.sleep(0.05)  # the first request's computation of "a" is under way
        second = asyncio.ensure_future(cache.get_many([("a", 3), ("b", 3)], work))
        await asyncio.sleep(0.05)
        release.set()
        return [*(await first), *(await second)]

    assert [f.body for f in asyncio.run(run())] == [b'["a"]', b'["a"]', b'["b"]']
    assert sorted(calls) == ["a", "b"]


def test_size_zero_computes_every_request() -> None:
    calls = []
    cache = ForecastCache(0, lambda key, fc: None)

    async def run() -> None:
        for _ in range(3):
            await cache.get((3, None), lambda: calls.append(1) or forecast("a"))

    asyncio.run(run())
    assert len(calls) == 3


def test_a_failed_computation_is_not_cached() -> None:
    attempts = []

    def flaky() -> RenderedForecast:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first call fails")
        return forecast("ok")

    async def run() -> RenderedForecast:
        cache = ForecastCache(ROOMY, lambda key, fc: None)
        with pytest.raises(RuntimeError):
            await cache.get((3, None), flaky)
        return await cache.get((3, None), flaky)

    assert asyncio.run(run()).body == b'["ok"]'


class _Echo:
    """A stand-in model: one row per period, values 100, 101, ..."""

    def predict(self, data: pd.DataFrame, params: object = None) -> pd.DataFrame:
        n = int(data["n_periods"].iloc[0])
        level = float(data["level"].iloc[0]) if "level" in data else 0.95
        values = [100.0 + i for i in range(n)]
        return pd.DataFrame(
            {
                "ds": [f"2000-01-{i + 1:02d}" for i in range(n)],
                "yhat": values,
                "yhat_lower": [v - level for v in values],
                "yhat_upper": [v + level for v in values],
            }
        )


def test_compute_serialises_records_and_keeps_yhat() -> None:
    result = ForeignPyfunc(_Echo()).forecast(None, 2, 0.5)
    assert result.yhat == (100.0, 101.0)
    assert result.body.startswith(b'[{"ds":"2000-01-01","yhat":100.0,"yhat_lower":99.5')


class _NaN:
    def predict(self, data: pd.DataFrame, params: object = None) -> pd.DataFrame:
        return pd.DataFrame({"yhat": [float("nan"), 1.0]})


def test_non_finite_values_are_written_as_mlflow_writes_them() -> None:
    result = ForeignPyfunc(_NaN()).forecast(None, 2, None)
    assert result.body == b'[{"yhat": NaN}, {"yhat": 1.0}]'
    assert not result.finite
