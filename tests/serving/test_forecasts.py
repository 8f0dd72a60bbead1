"""The forecast cache: bounded, shared by concurrent identical requests, optional."""

from __future__ import annotations

import asyncio
import threading

import pandas as pd
import pytest

from services.serving.forecasts import ForecastCache, RenderedForecast, compute


def forecast(tag: str) -> RenderedForecast:
    return RenderedForecast(body=f'["{tag}"]'.encode(), yhat=(1.0,))


def test_a_cached_forecast_is_computed_once() -> None:
    computed: list[object] = []
    cache = ForecastCache(8, lambda key, fc: computed.append(key))
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
        cache = ForecastCache(8, lambda key, fc: None)
        waiting = [asyncio.ensure_future(cache.get((3, None), slow)) for _ in range(5)]
        await asyncio.sleep(0.05)  # let all five reach the cache before the work finishes
        release.set()
        return list(await asyncio.gather(*waiting))

    results = asyncio.run(run())
    assert len(calls) == 1
    assert {r.body for r in results} == {b'["a"]'}


def test_the_cache_holds_at_most_its_size() -> None:
    cache = ForecastCache(2, lambda key, fc: None)

    async def run() -> None:
        for horizon in range(1, 6):
            await cache.get((horizon, None), lambda h=horizon: forecast(str(h)))

    asyncio.run(run())
    assert len(cache) == 2


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
        cache = ForecastCache(8, lambda key, fc: None)
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
    result = compute(_Echo(), 2, 0.5)
    assert result.yhat == (100.0, 101.0)
    assert result.body.startswith(b'[{"ds":"2000-01-01","yhat":100.0,"yhat_lower":99.5')


class _NaN:
    def predict(self, data: pd.DataFrame, params: object = None) -> pd.DataFrame:
        return pd.DataFrame({"yhat": [float("nan"), 1.0]})


def test_non_finite_values_are_written_as_mlflow_writes_them() -> None:
    result = compute(_NaN(), 2, None)
    assert result.body == b'[{"yhat": NaN}, {"yhat": 1.0}]'
    assert not result.finite
