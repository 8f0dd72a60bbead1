"""Computing one forecast from a loaded model, serialising it once, and caching it.

A forecast from a fixed model version is deterministic, so the serialised JSON of each
(horizon, level) is kept in a bounded LRU that belongs to the served version: a swap drops it
with the version. Identical requests that arrive while the first is still computing share one
computation instead of piling onto the worker threads.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from services.forecasting.forecaster import DEFAULT_LEVEL
from services.serving.loader import JsonForecaster, Predictor

Key = tuple[int, float | None]  # (horizon, level); the version is the cache's owner


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


def compute(model: Predictor, horizon: int, level: float | None) -> RenderedForecast:
    """Run the model for one request row (blocking: call it from a worker thread)."""
    import pandas as pd

    if isinstance(model, JsonForecaster):  # plain columns in and out: no DataFrames
        columns = model.forecaster.columns(horizon, DEFAULT_LEVEL if level is None else level)
        return _forecast(columns, lambda: pd.DataFrame(columns))
    row: dict[str, list[Any]] = {"n_periods": [horizon]}
    if level is not None:
        row["level"] = [level]
    raw = model.predict(pd.DataFrame(row))  # any other pyfunc, through its MLflow wrapper
    found = _columns(raw)
    if found is None:
        yhat = tuple(float(v) for v in raw["yhat"]) if "yhat" in getattr(raw, "columns", ()) else ()
        return RenderedForecast(body=_mlflow_json(raw), yhat=yhat, finite=_all_finite(raw))
    return _forecast(found, lambda: raw)


def _forecast(columns: dict[str, list[Any]], frame: Callable[[], Any]) -> RenderedForecast:
    """The forecast of these columns; `frame` gives them as MLflow's encoder wants them when
    orjson cannot write them as MLflow would (non-finite values, unusual types)."""
    finite = all(math.isfinite(v) for col in columns.values() for v in col if isinstance(v, float))
    body = _orjson_records(columns) if finite else None
    yhat = tuple(float(v) for v in columns.get("yhat", ()))
    return RenderedForecast(body=body or _mlflow_json(frame()), yhat=yhat, finite=finite)


class ForecastCache:
    """A bounded LRU of forecasts with single-flight misses; size 0 computes every request."""

    def __init__(self, size: int, on_computed: Callable[[Key, RenderedForecast], None]) -> None:
        self._lru: _Lru | None = _Lru(size) if size > 0 else None
        self._pending: dict[Key, asyncio.Future[RenderedForecast]] = {}
        self._on_computed = on_computed

    def __len__(self) -> int:
        return len(self._lru) if self._lru is not None else 0

    async def get(self, key: Key, work: Callable[[], RenderedForecast]) -> RenderedForecast:
        if self._lru is None:
            return self._done(key, await asyncio.to_thread(work))
        hit = self._lru.get(key)
        if hit is not None:
            return hit
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(work))
            self._pending[key] = pending
            pending.add_done_callback(lambda task: self._settle(key, task))
        # shield: a client that disconnects must not cancel the computation others wait on.
        return await asyncio.shield(pending)

    def _settle(self, key: Key, task: asyncio.Future[RenderedForecast]) -> None:
        self._pending.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # the waiters see the exception; nothing is cached
        assert self._lru is not None
        self._lru.put(key, self._done(key, task.result()))

    def _done(self, key: Key, forecast: RenderedForecast) -> RenderedForecast:
        self._on_computed(key, forecast)
        return forecast


class _Lru:
    """Least recently used eviction over an OrderedDict (touched from the event loop only)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Key, RenderedForecast] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Key) -> RenderedForecast | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Key, value: RenderedForecast) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)
