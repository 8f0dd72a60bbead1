"""The answers to forecast requests that passed the request rules (`schemas.py`): the one place a
valid `/predict` or `/invocations` request becomes bytes, called by the fast path and the routes
alike, so both give the same bytes. Requests the rules cannot vouch for go to MLflow's own
scorer (`protocol.score`).
"""

from __future__ import annotations

from services.serving.holder import ModelHolder, Served
from services.serving.schemas import Ask, Series


async def predict(
    holder: ModelHolder, served: Served, horizon: int, level: float | None, series: Series = None
) -> bytes | None:
    """The `/predict` answer; None when the forecast is not finite (the route answers 422).
    Without `series`, the model's one series as rows of `ds, yhat, ...`; with it, each series
    in request order, every row starting with its `unique_id`."""
    asked = [series] if series is None or isinstance(series, str) else list(series)
    forecasts = await served.forecasts([(s, horizon, level) for s in asked])
    if not all(f.finite for f in forecasts):
        return None
    holder.metrics.horizon.observe(horizon)
    # Every part is JSON serialised once (at load and on the cache miss); joining is enough.
    rows = join_arrays([f.body for f in forecasts])
    return b'{"model":' + served.model_json + b',"forecast":' + rows + b"}"


async def invocations(holder: ModelHolder, served: Served, asks: list[Ask]) -> bytes:
    """The `/invocations` answer to plain forecast rows: MLflow's records, row after row."""
    bodies = [f.body for f in await served.forecasts(asks)]
    for _, horizon, _ in asks:
        holder.metrics.horizon.observe(horizon)
    return join_predictions(bodies)


def join_predictions(bodies: list[bytes]) -> bytes:
    """`{"predictions": [...]}` from per-row JSON arrays, without parsing them again."""
    return b'{"predictions":' + join_arrays(bodies) + b"}"


def join_arrays(bodies: list[bytes]) -> bytes:
    """One JSON array of the items of several, in order, without parsing them again."""
    if len(bodies) == 1:
        return bodies[0]
    return b"[" + b",".join(b[1:-1] for b in bodies if len(b) > 2) + b"]"
