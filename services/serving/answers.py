"""The answers to forecast requests that passed the request rules (`schemas.py`): the one place a
valid `/predict` or `/invocations` request becomes bytes, called by the fast path and the routes
alike, so both give the same bytes. Requests the rules cannot vouch for go to MLflow's own
scorer (`protocol.score`).
"""

from __future__ import annotations

from services.serving.holder import ModelHolder, Served
from services.serving.schemas import Row


async def predict(
    holder: ModelHolder, served: Served, horizon: int, level: float | None
) -> bytes | None:
    """The `/predict` answer; None when the forecast is not finite (the route answers 422)."""
    forecast = await served.forecast(horizon, level)
    if not forecast.finite:
        return None
    holder.metrics.horizon.observe(horizon)
    # Both parts are JSON serialised once (at load and on the cache miss); joining is enough.
    return b'{"model":' + served.model_json + b',"forecast":' + forecast.body + b"}"


async def invocations(holder: ModelHolder, served: Served, rows: list[Row]) -> bytes:
    """The `/invocations` answer to plain forecast rows: MLflow's records, row after row."""
    bodies = [(await served.forecast(*row)).body for row in rows]
    for horizon, _ in rows:
        holder.metrics.horizon.observe(horizon)
    return join_predictions(bodies)


def join_predictions(bodies: list[bytes]) -> bytes:
    """`{"predictions": [...]}` from per-row JSON arrays, without parsing them again."""
    if len(bodies) == 1:
        return b'{"predictions":' + bodies[0] + b"}"
    return b'{"predictions":[' + b",".join(b[1:-1] for b in bodies if len(b) > 2) + b"]}"
