"""The one parse of each forecast route: which asks a body becomes, which problems it gets
instead (naming the field), and which `/invocations` bodies go to MLflow's own scorer."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

import orjson
import pytest

from services.serving import parse
from services.serving.answers import join_predictions
from services.serving.parse import SCORE, Problems
from services.serving.rules import Limits

LIMITS = Limits(max_horizon=365, max_series=2, max_points=2 * 365)
JSON = (b"application/json", b"application/json; charset=utf-8")


@dataclass
class Served:
    """The part of a served model the parse reads: the ids of its series."""

    series: Collection[str] = ()


ONE, THREE = Served(), Served(frozenset({"a", "b", "c"}))


def rows(payload: object, model: Served = ONE, content_type: bytes = JSON[0]) -> object:
    media = parse.media_type(content_type)
    body = json.dumps(payload).encode()  # integers past 64 bits included
    return parse.invocations(body, media, LIMITS, model)  # type: ignore[arg-type]


def predict(body: bytes, model: Served = ONE, content_type: bytes | None = JSON[0]) -> object:
    media = parse.media_type(content_type)
    return parse.predict(body, media, LIMITS, model)  # type: ignore[arg-type]


def fields(found: object) -> list[tuple[str | int, ...]]:
    assert isinstance(found, Problems), found
    return [problem.loc for problem in found.items]


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["n_periods", "level"], "data": [[3, 0.8], [5, 0.9]]}},
        {
            "dataframe_split": {
                "index": [0, 1],
                "columns": ["level", "n_periods"],
                "data": [[0.8, 3], [0.9, 5]],
            }
        },
        {"dataframe_records": [{"n_periods": 3, "level": 0.8}, {"level": 0.9, "n_periods": 5}]},
        {"inputs": {"n_periods": [3, 5], "level": [0.8, 0.9]}},
        {"instances": [{"n_periods": 3, "level": 0.8}, {"n_periods": 5, "level": 0.9}]},
    ],
)
def test_every_json_format_yields_the_same_rows(payload: object) -> None:
    assert rows(payload) == [(None, 3, 0.8), (None, 5, 0.9)]


def test_rows_without_level_keep_the_models_default() -> None:
    assert rows({"inputs": {"n_periods": [12]}}) == [(None, 12, None)]
    assert rows({"inputs": {"n_periods": [12]}}, content_type=JSON[1]) == [(None, 12, None)]


def test_rows_naming_served_series_are_answered_in_order() -> None:
    payload = {"inputs": {"unique_id": ["c", "a"], "n_periods": [1, 2]}}
    assert rows(payload, THREE) == [("c", 1, None), ("a", 2, None)]


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": {"n_periods": [12]}, "params": {"x": 1}},  # params go to the model
        {"dataframe_records": [{"n_periods": 3}, {"n_periods": 4, "level": 0.9}]},  # ragged
        {"inputs": {"n_periods": [3, 4], "level": [0.9]}},  # unequal columns
        {"inputs": {"horizon": [3]}},  # a column the model does not know
        {"inputs": {"n_periods": 3}},  # a scalar, not a column
        {"dataframe_split": {"columns": [["n_periods"]], "data": [[3]]}},
        {"dataframe_split": {"columns": ["n_periods", "n_periods"], "data": [[3, 4]]}},
        {"dataframe_split": {"columns": ["n_periods"], "data": [[3, 4]]}},
        {"dataframe_records": []},
    ],
)
def test_anything_unusual_is_left_to_mlflows_own_scorer(payload: object) -> None:
    assert rows(payload) is SCORE


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"inputs": {"n_periods": [3.0]}}, "n_periods"),  # an integer, as /predict's horizon
        ({"inputs": {"n_periods": [True]}}, "n_periods"),
        ({"inputs": {"n_periods": ["3"]}}, "n_periods"),
        ({"inputs": {"n_periods": [3], "level": [1]}}, "level"),
        ({"inputs": {"n_periods": [3], "level": ["0.9"]}}, "level"),
        ({"inputs": {"n_periods": [3.0], "horizon": [3]}}, "n_periods"),  # whatever else it holds
    ],
)
def test_rows_take_the_rules_strict_numbers_whatever_else_they_hold(
    payload: object, field: str
) -> None:
    found = rows(payload)
    assert isinstance(found, Problems) and found.status == 400
    assert fields(found) == [(field,)]


def test_a_missing_level_cell_keeps_the_models_default() -> None:
    assert rows({"inputs": {"n_periods": [3], "level": [None]}}) == [(None, 3, None)]


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": {"n_periods": [2]}},  # no series for a model of several
        {"inputs": {"unique_id": ["z"], "n_periods": [2]}},  # an unknown one
        {"inputs": {"unique_id": [1], "n_periods": [2]}},  # a number as id
    ],
)
def test_rows_the_served_series_rules_refuse_get_the_models_own_answer(payload: object) -> None:
    assert rows(payload, THREE) is SCORE


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"inputs": {"n_periods": [0]}}, "n_periods"),
        ({"inputs": {"n_periods": [366]}}, "n_periods"),
        ({"inputs": {"n_periods": [10**11]}}, "n_periods"),
        ({"inputs": {"n_periods": [3], "level": [1.5]}}, "level"),
        ({"dataframe_records": [{"n_periods": 3, "level": 0.0}]}, "level"),
    ],
)
def test_rows_out_of_range_are_a_400_naming_the_field(payload: object, field: str) -> None:
    found = rows(payload)
    assert isinstance(found, Problems) and found.status == 400
    assert fields(found) == [(field,)]
    assert field in found.items[0].message


@pytest.mark.parametrize(
    "payload",
    [{"unknown": [{"n_periods": 3}]}, [{"n_periods": 3}], {}, {"inputs": {}, "instances": []}],
)
def test_a_body_without_exactly_one_format_is_a_400_naming_them(payload: object) -> None:
    found = rows(payload)
    assert isinstance(found, Problems) and found.status == 400
    for fmt in parse.FORMATS:
        assert fmt in found.items[0].message


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_what_is_not_json_is_a_problem_on_both_routes(body: bytes) -> None:
    found = parse.invocations(body, parse.media_type(JSON[0]), LIMITS, ONE)  # type: ignore[arg-type]
    assert isinstance(found, Problems) and found.status == 400
    assert predict(body) == Problems(422, found.items)


def test_nan_and_infinity_are_a_problem_naming_the_field() -> None:
    found = parse.invocations(
        b'{"inputs": {"n_periods": [3], "level": [NaN]}}',
        parse.media_type(JSON[0]),
        LIMITS,
        ONE,  # type: ignore[arg-type]
    )
    assert isinstance(found, Problems) and found.status == 400
    assert "level" in found.items[0].message
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e309"):
        assert fields(predict(b'{"horizon": 3, "level": ' + literal + b"}")) == [("level",)]


def test_csv_goes_to_mlflows_scorer_and_other_content_types_get_415() -> None:
    body = b"n_periods\n3\n"
    assert parse.invocations(body, parse.media_type(b"text/csv"), LIMITS, ONE) is SCORE  # type: ignore[arg-type]
    for content_type in (b"text/plain", b"application/json; charset=latin-1", None):
        found = parse.invocations(body, parse.media_type(content_type), LIMITS, ONE)  # type: ignore[arg-type]
        assert isinstance(found, Problems) and found.status == 415, content_type
        assert "application/json" in found.items[0].message
        assert "text/csv" in found.items[0].message


def test_media_types_are_read_in_any_case_with_their_charset() -> None:
    assert parse.media_type(b"Application/JSON; Charset=UTF-8") == ("application/json", "utf-8")
    assert parse.media_type(b'text/csv; charset="latin-1"') == ("text/csv", "latin-1")
    assert parse.media_type(None) == (None, "utf-8")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"horizon": "3"}', ("horizon",)),
        (b'{"horizon": 3.0}', ("horizon",)),
        (b'{"horizon": true}', ("horizon",)),
        (b'{"horizon": null}', ("horizon",)),
        (b'{"horizon": 366}', ("horizon",)),
        (b'{"horizon": 0}', ("horizon",)),
        (b'{"level": 0.5}', ("horizon",)),
        (b'{"horizon": 3, "level": 1.0}', ("level",)),
        (b'{"horizon": 3, "level": "0.5"}', ("level",)),
        (b'{"horizon": 3, "level": true}', ("level",)),
        (b'{"horizon": 3, "extra": 1}', ("extra",)),
        (b'{"horizon": 3, "series": []}', ("series",)),
        (b'{"horizon": 3, "series": ["a", "b", "c"]}', ("series",)),
        (b'{"horizon": 3, "series": ["a", 1]}', ("series", 1)),
        (b'{"horizon": 3, "series": {"id": "a"}}', ("series",)),
        (b"[3]", ()),
    ],
)
def test_a_predict_body_that_breaks_a_rule_is_a_422_naming_the_field(
    body: bytes, field: tuple[str | int, ...]
) -> None:
    found = predict(body)
    assert isinstance(found, Problems) and found.status == 422
    assert fields(found) == [field]


def test_every_broken_rule_of_a_predict_body_is_named_at_once() -> None:
    found = predict(b'{"horizon": 0, "level": 2, "series": 7, "extra": 1}')
    assert sorted(map(str, fields(found))) == sorted(
        map(str, [("horizon",), ("level",), ("series",), ("extra",)])
    )


def test_a_predict_body_must_be_sent_as_json() -> None:
    assert fields(predict(b'{"horizon": 3}', content_type=b"text/plain")) == [()]
    assert fields(predict(b'{"horizon": 3}', content_type=None)) == [()]
    assert predict(b'{"horizon": 3}', content_type=b"application/vnd.x+json") == [(None, 3, None)]


@pytest.mark.parametrize(
    ("body", "asks"),
    [
        (b'{"horizon": 2, "series": "b"}', [("b", 2, None)]),
        (b'{"horizon": 1, "series": ["c", "a"], "level": 0.8}', [("c", 1, 0.8), ("a", 1, 0.8)]),
    ],
)
def test_a_predict_body_naming_served_series_asks_for_each(body: bytes, asks: list[object]) -> None:
    assert predict(body, THREE) == asks


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"horizon": 2}', "This model has 3 series"),
        (b'{"horizon": 2, "series": "z"}', "Unknown series 'z'"),
        (b'{"horizon": 2, "series": ["z", "y"]}', "Unknown series 'z' (and 1 more unknown)"),
    ],
)
def test_series_the_model_does_not_have_are_a_422_saying_so(body: bytes, says: str) -> None:
    found = predict(body, THREE)
    assert fields(found) == [("series",)]
    assert isinstance(found, Problems) and says in found.items[0].message


def test_joined_predictions_are_one_flat_list_in_row_order() -> None:
    first, second = orjson.dumps([{"a": 1}, {"a": 2}]), orjson.dumps([{"a": 3}])
    joined = orjson.loads(join_predictions([first, second]))
    assert joined == {"predictions": [{"a": 1}, {"a": 2}, {"a": 3}]}
    assert orjson.loads(join_predictions([second])) == {"predictions": [{"a": 3}]}
