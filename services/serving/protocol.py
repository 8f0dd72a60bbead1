"""MLflow's scoring protocol for `/invocations`, where this API does not answer it itself.

`parse.invocations` reads the forecast rows this API exists for and answers them from the
forecast cache. Everything else it hands over (`parse.SCORE`: CSV, `params`, other columns or
value types, a series the model does not know) takes MLflow's own scoring code (`score`), so its
answers and its error messages are MLflow's by construction; a guard in front of the model
applies the same ranges (`rules.py`) and names the field at fault, before any forecasting work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from services.forecasting.forecasters import ID
from services.serving import echo, rules
from services.serving.models import Model
from services.serving.parse import COLUMNS, JSON
from services.serving.rules import ABSENT, MAX_LEVEL, MIN_HORIZON, MIN_LEVEL, Limits, Problem


@dataclass(frozen=True)
class Scored:
    """What MLflow's scorer answers: status, body and content type."""

    status: int
    body: bytes
    media_type: str = JSON


def message(problem: Problem) -> str:
    """A problem as MLflow's error messages read: the rule, then what was sent."""
    if problem.given is ABSENT:
        return problem.message
    return f"{problem.message}; got {echo.text(problem.given)}"


def error(problems: tuple[Problem, ...]) -> bytes:
    """MLflow's error body for `problems`."""
    text = " ".join(message(p) for p in problems)
    return orjson.dumps({"error_code": "BAD_REQUEST", "message": text})


def score(body: bytes, content_type: str, model: Model, limits: Limits) -> Scored:
    """MLflow's own `/invocations` logic (blocking: run it in a worker thread)."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    guarded = _Guarded(model.pyfunc, limits)
    schema = guarded.metadata.get_input_schema()
    max_horizon = limits.max_horizon
    try:
        result = scoring_server.invocations(body, content_type, guarded, schema)
    except MlflowException as exc:
        exc.message = echo.sentence(exc.message)  # MLflow's messages quote the request
        if guarded.refused is None and not any(column in exc.message for column in COLUMNS):
            exc.message += _expected(max_horizon)
        status = guarded.refused or _client_status(exc.get_http_status_code())
        answer = orjson.loads(exc.serialize_as_json())
        answer.pop("stack_trace", None)  # MLflow's scorer adds one when a model raises
        return Scored(status, orjson.dumps(answer))
    except Exception as exc:  # anything the client sent that MLflow did not anticipate
        text = echo.sentence(f"Could not score the request ({type(exc).__name__}): {exc}")
        return Scored(400, orjson.dumps({"error_code": "BAD_REQUEST", "message": text}))
    return Scored(result.status, result.response.encode(), result.mimetype)


def _expected(max_horizon: int) -> str:
    return (
        f" Expected columns: n_periods (integer from {MIN_HORIZON} to {max_horizon}), optional"
        f" level (number strictly between {MIN_LEVEL:g} and {MAX_LEVEL:g}) and {ID} (the"
        " series, required by a model of several)."
    )


def _client_status(status: int) -> int:
    return status if 400 <= status < 500 else 400


class _Guarded:
    """The model behind the rules (`n_periods`, `level`, how many forecasts and rows), checked
    before any forecasting work; `refused` is the status of a request that asked too much."""

    def __init__(self, model: Any, limits: Limits) -> None:
        self._model = model
        self._limits = limits
        self.metadata = model.metadata
        self.refused: int | None = None

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(data, dict) or hasattr(data, "columns"):  # a DataFrame or named columns
            self._check(data)
        return self._model.predict(data, params=params)

    def _check(self, data: Any) -> None:
        from mlflow.exceptions import MlflowException

        horizons = _column(data, "n_periods")
        _check(horizons, _column(data, "level"), self._limits)
        rows = len(horizons)
        points = int(sum(horizons))
        if not rules.within(rows, points, self._limits):
            self.refused = 422
            raise MlflowException.invalid_parameter_value(rules.amount(rows, points, self._limits))


def _column(data: Any, name: str) -> list[Any]:
    import numpy as np

    return list(np.atleast_1d(np.asarray(data[name], dtype=object))) if name in data else []


def _check(horizons: list[Any], levels: list[Any], limits: Limits) -> None:
    """The rules on the values MLflow parsed (of whatever numeric type its schema made them): an
    integer horizon in range (never 2.5 periods, never a string), a number level in range;
    MLflow's own exception, naming the first value that breaks them."""
    from mlflow.exceptions import MlflowException

    bad = [
        v
        for v in horizons
        if not _is_number(v) or not float(v).is_integer()
        or not rules.horizon_ok(float(v), limits.max_horizon)
    ]  # fmt: skip
    if bad:
        rule = rules.horizon_rule("n_periods", limits)
        raise MlflowException.invalid_parameter_value(f"{rule}; got {echo.text(bad[0])}")
    # A missing cell (records without "level") arrives as NaN: the model's default applies.
    given = [v for v in levels if not (isinstance(v, float) and math.isnan(v))]
    bad = [v for v in given if not _is_number(v) or not rules.level_ok(float(v))]
    if bad:
        raise MlflowException.invalid_parameter_value(
            f"{rules.level_rule('level')}; got {echo.text(bad[0])}"
        )


def _is_number(value: Any) -> bool:
    """A finite number of any numeric type (NumPy's included), never a string or a boolean."""
    import numpy as np

    if isinstance(value, bool | np.bool_ | str | bytes):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
