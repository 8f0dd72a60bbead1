"""The request rules of the forecast routes, written once for `/predict` and `/invocations`:

- a horizon (`horizon`, `n_periods`) is an integer from 1 to MAX_HORIZON;
- a level is a number strictly between 0 and 1; absent, the model's default (0.95) applies;
- the series named are strings the served model knows; a model of several series needs them
  named;
- one request asks for at most MAX_SERIES_PER_REQUEST forecasts (ids in `/predict`'s `series`,
  rows in `/invocations`) and MAX_POINTS_PER_REQUEST forecast rows in all (the sum of their
  horizons), so that a small request cannot ask for an enormous answer.

`parse.py` reads each route's body into values and applies these; MLflow's scorer applies the
same ranges to the frames it parses (`protocol.py`). A broken rule is a `Problem`, which each
route writes its own way (`door.py`).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.serving import echo

if TYPE_CHECKING:
    from services.serving.settings import Settings

MIN_HORIZON = 1
MIN_LEVEL, MAX_LEVEL = 0.0, 1.0  # both excluded
Ask = tuple[str | None, int, float | None]  # one forecast: (series, horizon, level)
Asked = tuple[str | None, ...]  # the series of a request, in order; (None,): the model's one


class Absent:
    """A field the body does not have."""

    def __repr__(self) -> str:
        return "absent"


ABSENT = Absent()


class NonFinite(str):
    """A NaN or Infinity literal where JSON has only numbers (Python's parser accepts them)."""


@dataclass(frozen=True)
class Limits:
    max_horizon: int
    max_series: int  # forecasts one request may ask for (ids in `series`, rows)
    max_points: int  # forecast rows one request may ask for: the sum of its horizons

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_horizon, settings.max_series_per_request, settings.max_points_per_request
        )


@dataclass(frozen=True)
class Problem:
    """One broken rule: where in the body (`()` for the whole body), a kind (pydantic's names
    where one fits), a sentence naming the field and what it takes, and what was sent there."""

    loc: tuple[str | int, ...]
    kind: str
    message: str
    given: Any = ABSENT
    ctx: dict[str, Any] | None = None


def horizon_ok(value: float, max_horizon: int) -> bool:
    return MIN_HORIZON <= value <= max_horizon


def level_ok(value: float) -> bool:
    return MIN_LEVEL < value < MAX_LEVEL


def horizon_rule(field: str, limits: Limits) -> str:
    return f"{field} must be an integer from {MIN_HORIZON} to {limits.max_horizon}"


def level_rule(field: str) -> str:
    return f"{field} must be a number strictly between {MIN_LEVEL:g} and {MAX_LEVEL:g}"


def horizon(value: object, limits: Limits, field: str = "horizon") -> int | Problem:
    """An integer from 1 to MAX_HORIZON (never a float, a string or a boolean)."""
    if type(value) is int and MIN_HORIZON <= value <= limits.max_horizon:
        return value  # the request this API exists for: checked first, no message built
    takes = horizon_rule(field, limits)
    if value is ABSENT:
        return Problem((field,), "missing", f"{takes} (required)")
    if type(value) is not int:
        return Problem((field,), "int_type", takes, value)
    if value < MIN_HORIZON:
        return Problem((field,), "greater_than_equal", takes, value, {"ge": MIN_HORIZON})
    return Problem((field,), "less_than_equal", takes, value, {"le": limits.max_horizon})


def level(value: object, field: str = "level") -> float | Problem | None:
    """A finite number strictly between 0 and 1, or None (absent or null) for the default."""
    if value is ABSENT or value is None:
        return None
    if type(value) is float and MIN_LEVEL < value < MAX_LEVEL:
        return value  # checked first, no message built
    takes = level_rule(field)
    if type(value) is not int and type(value) is not float:
        kind = "finite_number" if isinstance(value, NonFinite) else "float_type"
        return Problem((field,), kind, takes, value)
    number = float(value)
    if not math.isfinite(number):
        return Problem((field,), "finite_number", takes, value)
    if number <= MIN_LEVEL:
        return Problem((field,), "greater_than", takes, value, {"gt": MIN_LEVEL})
    return Problem((field,), "less_than", takes, value, {"lt": MAX_LEVEL})


def series(value: object, limits: Limits) -> Asked | Problem:
    """`/predict`'s `series`: none, one id, or a list of 1 to MAX_SERIES_PER_REQUEST ids."""
    if value is ABSENT or value is None:
        return (None,)
    if type(value) is str:
        return (value,)
    takes = "series must be one id or a list of ids (strings); GET /series lists them"
    if type(value) is not list:
        return Problem(("series",), "string_or_list_type", takes, value)
    if not value:
        return Problem(("series",), "too_short", "series must list at least one id", value)
    if len(value) > limits.max_series:
        return Problem(
            ("series",), "too_long", amount(len(value), None, limits), value,
            {"max_length": limits.max_series},
        )  # fmt: skip
    for index, item in enumerate(value):
        if type(item) is not str:
            return Problem(("series", index), "string_type", takes, item)
    return tuple(value)


def within(forecasts: int, points: int, limits: Limits) -> bool:
    return forecasts <= limits.max_series and points <= limits.max_points


def amount(forecasts: int, points: int | None, limits: Limits) -> str:
    """What a request asking for too much is told: both limits, and what it asked for."""
    asked = f"{forecasts:,} forecasts" + ("" if points is None else f" of {points:,} rows in all")
    return (
        f"A request may ask for at most {limits.max_series:,} forecasts "
        f"(MAX_SERIES_PER_REQUEST: series named, or rows) and {limits.max_points:,} forecast "
        f"rows in all (MAX_POINTS_PER_REQUEST: the sum of their horizons); this one asks for "
        f"{asked}"
    )


def served(asked: Asked, known: Collection[str], given: object = ABSENT) -> Problem | None:
    """The problem when the series asked do not fit the served model, whose ids are `known`
    (empty for a model that names none): an unknown id, or none named to a model of several."""
    count = len(known)
    if asked == (None,):
        if count <= 1:
            return None
        return _series("missing", f"This model has {count:,} series: name one or more in 'series'")
    if not count:
        message = "This model does not name its series: send no 'series'"
        return _series("value_error", message, given)
    unknown = [s for s in dict.fromkeys(asked) if s not in known]
    if not unknown:
        return None
    more = f" (and {len(unknown) - 1:,} more unknown)" if len(unknown) > 1 else ""
    message = f"Unknown series {echo.text(unknown[0])}{more}: the model has {count:,}"
    return _series("value_error", message, given)


def _series(kind: str, message: str, given: object = ABSENT) -> Problem:
    return Problem(("series",), kind, f"{message} (GET /series lists them)", given)
