"""One forecast serialised once, as MLflow's scoring server writes it, and cached.

A forecast from a fixed model version is deterministic, so the serialised JSON of each
(series, horizon, level) is kept in an LRU that belongs to the served version (a swap drops it
with the version) and is bounded in bytes, since one series' forecast may be a row or a year of
rows. Identical requests that arrive while the first is still computing share one computation
instead of piling onto the worker threads; a request for many series computes its misses in one
worker thread.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import orjson

# The API's key is (series, horizon, level) (`rules.Ask`); the version is the cache's owner.
Key = TypeVar("Key", bound=Hashable)
# What one cached entry costs beside its body's bytes: the entry, its key tuple and the LRU's
# link (about 240 bytes, measured with tracemalloc on CPython 3.11), the body's object header,
# the id string and the level float (about 110 more); rounded up.
ENTRY_OVERHEAD = 400


@dataclass(frozen=True)
class RenderedForecast:
    body: bytes  # the records as a JSON array, exactly as MLflow's scoring server writes them
    yhat: tuple[float, ...]
    finite: bool = True  # False when a value is NaN or infinite (the body then is not strict JSON)


def _mlflow_json(raw: Any) -> bytes:
    """MLflow's own way: NaN/Infinity (orjson would write null) and types orjson does not know."""
    from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

    obj = _get_jsonable_obj(raw, pandas_orient="records")
    return json.dumps(obj, cls=NumpyEncoder).encode()


def _columns(raw: Any) -> dict[str, list[Any]] | None:
    """A DataFrame's columns as Python lists; None for anything else (MLflow's path decides)."""
    import pandas as pd

    if not isinstance(raw, pd.DataFrame) or not raw.columns.is_unique:
        return None
    return {str(name): raw[name].tolist() for name in raw.columns}


def _orjson_records(columns: dict[str, list[Any]]) -> bytes | None:
    """The bytes `to_dict("records")` + MLflow's encoder give, at a fraction of the cost; None
    for values orjson does not write as MLflow does (e.g. Timestamps)."""
    rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    try:
        return orjson.dumps(rows)
    except TypeError:
        return None


def _all_finite(raw: Any) -> bool:
    import numpy as np
    import pandas as pd

    if not isinstance(raw, pd.DataFrame):
        return False
    numbers = raw.select_dtypes("number")
    return bool(np.isfinite(numbers.to_numpy(dtype=float)).all()) if numbers.size else True


def render_frame(raw: Any) -> RenderedForecast:
    """The forecast of what a pyfunc's `predict` returned, written as MLflow's scoring server
    writes it."""
    found = _columns(raw)
    if found is None:
        yhat = tuple(float(v) for v in raw["yhat"]) if "yhat" in getattr(raw, "columns", ()) else ()
        return RenderedForecast(body=_mlflow_json(raw), yhat=yhat, finite=_all_finite(raw))
    return render_columns(found, lambda: raw)


def render_columns(columns: dict[str, list[Any]], frame: Callable[[], Any]) -> RenderedForecast:
    """The forecast of these columns; `frame` gives them as MLflow's encoder wants them when
    orjson cannot write them as MLflow would (non-finite values, unusual types)."""
    finite = all(math.isfinite(v) for col in columns.values() for v in col if isinstance(v, float))
    body = _orjson_records(columns) if finite else None
    yhat = tuple(float(v) for v in columns.get("yhat", ()))
    return RenderedForecast(body=body or _mlflow_json(frame()), yhat=yhat, finite=finite)


class ForecastCache(Generic[Key]):
    """An LRU of forecasts bounded in bytes, with single-flight misses; 0 bytes computes every
    request."""

    def __init__(
        self, max_bytes: int, on_computed: Callable[[Key, RenderedForecast], None]
    ) -> None:
        self._lru: _Lru[Key] | None = _Lru(max_bytes) if max_bytes > 0 else None
        self._pending: dict[Key, asyncio.Future[RenderedForecast]] = {}
        self._on_computed = on_computed

    def __len__(self) -> int:
        return len(self._lru) if self._lru is not None else 0

    @property
    def nbytes(self) -> int:
        """What the cached entries are counted as (bodies plus `ENTRY_OVERHEAD` each)."""
        return self._lru.nbytes if self._lru is not None else 0

    async def get(self, key: Key, work: Callable[[], RenderedForecast]) -> RenderedForecast:
        (found,) = await self.get_many([key], lambda _: work())
        return found

    async def get_many(
        self, keys: Sequence[Key], work: Callable[[Key], RenderedForecast]
    ) -> list[RenderedForecast]:
        """The forecast of each key, in order: cached ones at once, the misses nobody is
        computing yet in one worker thread, the others from the computation already under way."""
        found: dict[Key, RenderedForecast | asyncio.Future[RenderedForecast]] = {}
        todo: list[Key] = []
        for key in keys:
            if key in found:
                continue
            hit = self._lru.get(key) if self._lru is not None else None
            pending = self._pending.get(key)
            if hit is not None:
                found[key] = hit
            elif pending is not None:
                found[key] = pending
            else:
                found[key] = asyncio.get_running_loop().create_future()
                todo.append(key)
        if todo:
            self._start(todo, work, found)
        # shield: a client that disconnects must not cancel the computation others wait on.
        return [
            value if isinstance(value, RenderedForecast) else await asyncio.shield(value)
            for value in (found[key] for key in keys)
        ]

    def _start(
        self,
        todo: list[Key],
        work: Callable[[Key], RenderedForecast],
        found: dict[Key, RenderedForecast | asyncio.Future[RenderedForecast]],
    ) -> None:
        futures = {key: found[key] for key in todo}
        if self._lru is not None:
            self._pending.update(futures)  # type: ignore[arg-type]
        batch = asyncio.ensure_future(asyncio.to_thread(lambda: [work(key) for key in todo]))
        batch.add_done_callback(lambda task: self._settle(futures, task))  # type: ignore[arg-type]

    def _settle(
        self,
        futures: dict[Key, asyncio.Future[RenderedForecast]],
        task: asyncio.Future[list[RenderedForecast]],
    ) -> None:
        for key in futures:
            self._pending.pop(key, None)
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            for future in futures.values():
                if error is None:
                    future.cancel()
                else:
                    future.set_exception(error)
                    future.add_done_callback(_retrieved)
            return  # the waiters see the exception; nothing is cached
        for (key, future), forecast in zip(futures.items(), task.result(), strict=True):
            future.set_result(self._done(key, forecast))
            if self._lru is not None:
                # Only the body is served from the cache: the values were observed once, above.
                self._lru.put(key, replace(forecast, yhat=()))

    def _done(self, key: Key, forecast: RenderedForecast) -> RenderedForecast:
        self._on_computed(key, forecast)
        return forecast


def _retrieved(future: asyncio.Future[RenderedForecast]) -> None:
    """Marks a failed computation's exception as seen when no other request waited on it."""
    if not future.cancelled():
        future.exception()


class _Lru(Generic[Key]):
    """Least recently used eviction over an OrderedDict, bounded in bytes (touched from the
    event loop only); an entry larger than the bound is not kept."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[Key, RenderedForecast] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Key) -> RenderedForecast | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Key, value: RenderedForecast) -> None:
        size = _size(value)
        if size > self._max:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.nbytes -= _size(old)
        self._items[key] = value
        self.nbytes += size
        while self.nbytes > self._max:
            _, evicted = self._items.popitem(last=False)
            self.nbytes -= _size(evicted)


def _size(forecast: RenderedForecast) -> int:
    return len(forecast.body) + ENTRY_OVERHEAD
