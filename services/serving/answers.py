"""The answers to forecast requests that passed the request rules (`parse.py`): the one place a
valid `/predict` or `/invocations` request becomes bytes. Requests the rules leave to MLflow go
to its own scorer (`protocol.score`).
"""

from __future__ import annotations

from services.serving.holder import ModelHolder, Served
from services.serving.rules import Ask


async def predict(holder: ModelHolder, served: Served, asks: list[Ask]) -> bytes | None:
    """The `/predict` answer; None when the forecast is not finite (the door answers 422).
    For the model's one series, rows of `ds, yhat, ...`; for series named, each series in
    request order, every row starting with its `unique_id`."""
    forecasts = await served.forecasts(asks)
    if not all(f.finite for f in forecasts):
        return None
    holder.metrics.horizon.observe(asks[0][1])  # one horizon per request
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
