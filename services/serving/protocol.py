"""MLflow's scoring protocol for `/invocations`, answered as `mlflow models serve` answers it.

Two paths. `fast_rows` recognises the forecasting requests this API exists for (rows of an
integer `n_periods`, an optional float `level` and an optional string `unique_id`, in any of the
four JSON formats, that pass `schemas.plain_row`), which `answers.invocations` answers from the
forecast cache without pandas when `schemas.series_error` finds their series served.
Everything else (CSV, `params`, other columns, odd types, out-of-range values, malformed JSON)
takes MLflow's own scoring code (`score`), so its answers and its error messages are MLflow's by
construction; a guard in front of the model applies the same request rules and names the field
at fault.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from services.forecasting.forecasters import ID
from services.serving.loader import JsonForecaster, Predictor
from services.serving.schemas import (
    MAX_LEVEL,
    MIN_HORIZON,
    MIN_LEVEL,
    Ask,
    horizon_ok,
    level_ok,
    plain_row,
    series_error,
)

FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances")
COLUMNS = frozenset({ID, "n_periods", "level"})
JSON = "application/json"
JSON_TYPES = (JSON, "application/json; charset=utf-8")


@dataclass(frozen=True)
class Scored:
    """What MLflow's scorer answers: status, body and content type."""

    status: int
    body: bytes
    media_type: str = JSON


def fast_rows(body: bytes, content_type: str | None, max_horizon: int) -> list[Ask] | None:
    """The request's (unique_id, n_periods, level) rows when it is a plain, valid forecast
    request (unique_id None without that column)."""
    if content_type not in JSON_TYPES:
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or len(payload) != 1:
        return None  # `params`, several formats or none: MLflow decides
    ((fmt, data),) = payload.items()
    records = _records(fmt, data)
    if not records:
        return None
    rows = [_row(record, max_horizon) for record in records]
    return None if None in rows else rows  # type: ignore[return-value]


def _records(fmt: str, data: Any) -> list[dict[str, Any]] | None:
    if fmt == "dataframe_split":
        return _from_split(data)
    if fmt in FORMATS:  # records, or for inputs/instances also a dict of equal-length columns
        if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
            lengths = {len(v) for v in data.values()}
            if len(lengths) != 1:
                return None
            columns = zip(*data.values(), strict=True)
            return [dict(zip(data, values, strict=True)) for values in columns]
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            keys = {frozenset(r) for r in data}
            return data if len(keys) == 1 else None  # missing cells become NaN in MLflow
    return None


def _from_split(data: Any) -> list[dict[str, Any]] | None:
    if not isinstance(data, dict) or not set(data) <= {"columns", "data", "index"}:
        return None
    columns, values = data.get("columns"), data.get("data")
    if not isinstance(columns, list) or not isinstance(values, list):
        return None
    if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
        return None
    if not all(isinstance(v, list) and len(v) == len(columns) for v in values):
        return None
    return [dict(zip(columns, v, strict=True)) for v in values]


def _row(record: dict[str, Any], max_horizon: int) -> Ask | None:
    if not record.keys() <= COLUMNS:
        return None
    if "level" in record and record["level"] is None:
        return None  # an explicit null is a missing cell to MLflow: its parser decides
    series = record.get(ID)
    if ID in record and type(series) is not str:
        return None  # MLflow's schema decides about anything but a string id
    row = plain_row(record.get("n_periods"), record.get("level"), max_horizon)
    return None if row is None else (series, *row)


def served_rows(rows: list[Ask], known: Collection[str]) -> bool:
    """True when every row's series is one the served model answers (`schemas.series_error`);
    otherwise MLflow's scorer answers, with its own error for an unknown id."""
    return all(series_error(series, known) is None for series in {row[0] for row in rows})


def score(body: bytes, content_type: str | None, model: Predictor, max_horizon: int) -> Scored:
    """MLflow's own `/invocations` logic (blocking: run it in a worker thread)."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    pyfunc = model.pyfunc if isinstance(model, JsonForecaster) else model
    guarded = _Guarded(pyfunc, max_horizon)
    schema = guarded.metadata.get_input_schema()
    if _has_non_finite_literal(body, content_type):
        message = "NaN and Infinity are not JSON numbers: send finite n_periods and level values"
        return Scored(400, orjson.dumps({"error_code": "BAD_REQUEST", "message": message}))
    try:
        result = scoring_server.invocations(body, content_type or "", guarded, schema)
    except MlflowException as exc:
        if not any(column in exc.message for column in COLUMNS):
            exc.message += _expected(max_horizon)
        return Scored(_client_status(exc.get_http_status_code()), exc.serialize_as_json().encode())
    except Exception as exc:  # anything the client sent that MLflow did not anticipate
        message = f"Could not score the request ({type(exc).__name__}): {exc}"
        return Scored(400, orjson.dumps({"error_code": "BAD_REQUEST", "message": message}))
    return Scored(result.status, result.response.encode(), result.mimetype)


def _expected(max_horizon: int) -> str:
    return (
        f" Expected columns: n_periods (integer from {MIN_HORIZON} to {max_horizon}), optional"
        f" level (number strictly between {MIN_LEVEL:g} and {MAX_LEVEL:g}) and {ID} (the"
        " series, required by a model of several)."
    )


def _has_non_finite_literal(body: bytes, content_type: str | None) -> bool:
    """True for JSON that only parses with NaN/Infinity literals (Python accepts them)."""
    if not (content_type or "").startswith(JSON):
        return False

    def refuse(_: str) -> None:
        raise _NonFinite

    try:
        json.loads(body, parse_constant=refuse)
    except _NonFinite:
        return True
    except (ValueError, RecursionError):  # malformed, not UTF-8, too deep: MLflow says so
        return False
    return False


class _NonFinite(Exception):
    pass


def _client_status(status: int) -> int:
    return status if 400 <= status < 500 else 400


class _Guarded:
    """The model behind a check of `n_periods` and `level`, before any forecasting work."""

    def __init__(self, model: Any, max_horizon: int) -> None:
        self._model = model
        self._max = max_horizon
        self.metadata = model.metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(data, dict) or hasattr(data, "columns"):  # a DataFrame or named columns
            _check(data, self._max)
        return self._model.predict(data, params=params)


def _column(data: Any, name: str) -> list[Any]:
    import numpy as np

    return list(np.atleast_1d(np.asarray(data[name], dtype=object))) if name in data else []


def _check(data: Any, max_horizon: int) -> None:
    from mlflow.exceptions import MlflowException

    horizons = _column(data, "n_periods")
    bad = [v for v in horizons if not _is_number(v) or not horizon_ok(v, max_horizon)]
    if bad:
        raise MlflowException.invalid_parameter_value(
            f"n_periods must be an integer from {MIN_HORIZON} to {max_horizon}; got {bad[0]!r}"
        )
    # A missing cell (records without "level") arrives as NaN: the model's default applies.
    levels = [v for v in _column(data, "level") if not (isinstance(v, float) and math.isnan(v))]
    bad = [v for v in levels if not _is_number(v) or not level_ok(v)]
    if bad:
        raise MlflowException.invalid_parameter_value(
            f"level must be a number strictly between {MIN_LEVEL:g} and {MAX_LEVEL:g}; "
            f"got {bad[0]!r}"
        )


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
