"""The one parse of each forecast route: `(body, media type, limits, model)` becomes the asks to
answer, or the problems to answer instead. Each route's body shape is read here, once; the rules
its values obey are `rules.py`'s.

`/invocations` has a third outcome, `SCORE`: a body in MLflow's protocol that this API does not
answer itself (CSV, `params`, columns or value types other than plain forecast rows, a series the
served model does not know) goes to MLflow's own scoring code (`protocol.py`), so that its answer,
and its error, are the ones `mlflow models serve` gives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from services.forecasting.forecasters import ID
from services.serving import echo, rules
from services.serving.models import Model
from services.serving.rules import ABSENT, Ask, Limits, NonFinite, Problem

JSON, CSV = "application/json", "text/csv"
PREDICT_FIELDS = frozenset({"horizon", "level", "series"})
FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances")
COLUMNS = frozenset({ID, "n_periods", "level"})


@dataclass(frozen=True)
class Problems:
    """The answer to a request that broke the rules: its status and every problem found."""

    status: int
    items: tuple[Problem, ...]


class Score:
    """Hand the body to MLflow's own scoring code."""


SCORE = Score()


@lru_cache(maxsize=64)  # a handful of distinct headers in practice; bounded whatever is sent
def media_type(content_type: bytes | None) -> tuple[str | None, str]:
    """(media type, charset) of a Content-Type header, lower case; (None, ...) without one."""
    if content_type is None:
        return None, "utf-8"
    mime, _, parameters = content_type.decode("latin-1").partition(";")
    charset = "utf-8"
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return mime.strip().lower(), charset


def read_json(body: bytes) -> tuple[Any, bool] | Problem:
    """The JSON value of `body`, and whether it holds NaN or Infinity (which orjson refuses and
    Python's parser reads, as `NonFinite` values); a `Problem` for anything that is not JSON."""
    try:
        return orjson.loads(body), False
    except orjson.JSONDecodeError as exc:
        refused = exc
    found: list[str] = []

    def non_finite(literal: str) -> NonFinite:
        found.append(literal)
        return NonFinite(literal)

    try:
        return json.loads(body, parse_constant=non_finite), bool(found)
    except (ValueError, RecursionError):  # malformed, not UTF-8, too deep
        return Problem((), "json_invalid", f"The body is not JSON: {refused}")


def predict(
    body: bytes, media: tuple[str | None, str], limits: Limits, model: Model
) -> list[Ask] | Problems:
    """A `/predict` body: `{"horizon": ..., "level": ..., "series": ...}` as JSON."""
    if not _json_like(media[0]):
        message = f"Send the body as JSON, with Content-Type: {JSON}; got {_named(media[0])}"
        return Problems(415, (Problem((), "media_type", message),))
    read = read_json(body)
    if isinstance(read, Problem):
        return Problems(422, (read,))
    payload, _ = read
    if type(payload) is not dict:
        message = 'The body must be a JSON object, e.g. {"horizon": 12}'
        return Problems(422, (Problem((), "model_attributes_type", message, payload),))
    extra = [] if payload.keys() <= PREDICT_FIELDS else _unknown_fields(payload)
    horizon = rules.horizon(payload.get("horizon", ABSENT), limits)
    level = rules.level(payload.get("level", ABSENT))
    asked = rules.series(payload.get("series", ABSENT), limits)
    if (
        extra
        or isinstance(horizon, Problem)
        or isinstance(level, Problem)
        or isinstance(asked, Problem)
    ):
        broken = [found for found in (horizon, level, asked) if isinstance(found, Problem)]
        return Problems(422, (*extra, *broken))
    if not rules.within(len(asked), len(asked) * horizon, limits):
        message = rules.amount(len(asked), len(asked) * horizon, limits)
        return Problems(422, (Problem((), "too_long", message),))
    unfit = rules.served(asked, model.series, payload.get("series", ABSENT))
    if unfit is not None:
        return Problems(422, (unfit,))
    return [(series, horizon, level) for series in asked]


def _named(media: str | None) -> str:
    return "no Content-Type" if media is None else echo.text(media)


def _json_like(media: str | None) -> bool:
    """FastAPI's reading: application/json or application/*+json is JSON, whatever the charset;
    a body sent without a Content-Type is not."""
    if media is None:
        return False
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


def _unknown_fields(payload: dict[str, Any]) -> list[Problem]:
    message = "Unknown field {!r}: a body has horizon, and optionally level and series"
    return [
        Problem((key,), "extra_forbidden", message.format(key), value)
        for key, value in payload.items()
        if key not in PREDICT_FIELDS
    ]


def invocations(
    body: bytes, media: tuple[str | None, str], limits: Limits, model: Model
) -> list[Ask] | Score | Problems:
    """An `/invocations` body in MLflow's scoring protocol: rows of `n_periods`, optional
    `level` and `unique_id`, in any of its four JSON formats, or CSV."""
    mime, charset = media
    if charset != "utf-8" or mime not in (JSON, CSV):
        given = _named(mime) + ("" if charset == "utf-8" else f", charset {echo.text(charset)}")
        message = f"Send Content-Type {JSON} or {CSV} (charset utf-8); got {given}"
        return Problems(415, (Problem((), "media_type", message),))
    if mime == CSV:
        return SCORE
    read = read_json(body)
    if isinstance(read, Problem):
        return Problems(400, (read,))
    payload, non_finite = read
    if non_finite:
        message = "NaN and Infinity are not JSON numbers: send finite n_periods and level values"
        return Problems(400, (Problem((), "finite_number", message),))
    formats = [key for key in payload if key in FORMATS] if type(payload) is dict else []
    if len(formats) != 1:
        message = (
            f"The body must be a JSON object with exactly one of {', '.join(FORMATS)} (and "
            f"optionally params); got {_keys(payload)}"
        )
        return Problems(400, (Problem((), "format", message),))
    rows = _rows(_records(formats[0], payload[formats[0]]), limits, model)
    # `params` beside the rows: the model's to read, once the rows keep the rules.
    return SCORE if len(payload) != 1 and isinstance(rows, list) else rows


def _keys(payload: object) -> str:
    if type(payload) is not dict:
        return f"a JSON {type(payload).__name__}"
    return echo.text(list(payload))[1:-1] or "an empty object"


def _rows(
    records: list[dict[str, Any]] | None, limits: Limits, model: Model
) -> list[Ask] | Score | Problems:
    """The forecast rows, their `n_periods` and `level` held to the rules' strict numbers
    whatever else they hold; SCORE for rows only MLflow's schema can read."""
    if not records:
        return SCORE
    if len(records) > limits.max_series:
        return Problems(422, (Problem((), "too_long", rules.amount(len(records), None, limits)),))
    asks: list[Ask] = []
    problems: list[Problem] = []
    plain = True
    for record in records:
        given = record.get("n_periods", ABSENT)
        horizon = ABSENT if given is ABSENT else rules.horizon(given, limits, "n_periods")
        level = rules.level(record.get("level", ABSENT))
        if isinstance(horizon, Problem) or isinstance(level, Problem):
            problems += [found for found in (horizon, level) if isinstance(found, Problem)]
        elif isinstance(horizon, int):
            asks.append((record.get(ID), horizon, level))
        plain = plain and _plain(record)
    if problems:
        return Problems(400, tuple(problems))
    points = sum(horizon for _, horizon, _ in asks)
    if points > limits.max_points:
        return Problems(422, (Problem((), "too_long", rules.amount(len(asks), points, limits)),))
    if not plain:
        return SCORE
    asked = tuple({series: None for series, _, _ in asks})
    return SCORE if rules.served(asked, model.series) is not None else asks


def _plain(record: Mapping[str, Any]) -> bool:
    """A forecast row this API answers itself: `n_periods`, maybe `level` and a string
    `unique_id`, nothing else (the numbers are checked by the rules); MLflow's schema decides
    about anything else, a missing `n_periods` included."""
    return "n_periods" in record and record.keys() <= COLUMNS and type(record.get(ID, "")) is str


def _records(fmt: str, data: Any) -> list[dict[str, Any]] | None:
    """The rows of one of MLflow's JSON formats as dicts; None for a shape MLflow decides."""
    if fmt == "dataframe_split":
        return _from_split(data)
    # records, or for inputs/instances also a dict of equal-length columns
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
