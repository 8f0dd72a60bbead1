"""The fast path of `/invocations`: which payloads it answers itself, and how it joins rows."""

from __future__ import annotations

import orjson
import pytest

from services.serving.answers import join_predictions
from services.serving.protocol import fast_rows

JSON = "application/json"


def rows(payload: object, content_type: str = JSON, max_horizon: int = 365) -> object:
    return fast_rows(orjson.dumps(payload), content_type, max_horizon)


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


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": {"n_periods": [12]}, "params": {"x": 1}},  # params go to the model
        {"dataframe_records": [{"n_periods": 3}, {"n_periods": 4, "level": 0.9}]},  # ragged
        {"inputs": {"n_periods": [3, 4], "level": [0.9]}},  # unequal columns
        {"inputs": {"horizon": [3]}},  # a column the model does not know
        {"inputs": {"n_periods": [3.0]}},  # MLflow's schema decides about floats
        {"inputs": {"n_periods": [True]}},
        {"inputs": {"n_periods": [0]}},
        {"inputs": {"n_periods": [366]}},
        {"inputs": {"n_periods": [3], "level": [1]}},  # an int level: MLflow decides
        {"inputs": {"n_periods": [3], "level": [1.5]}},
        {"inputs": {"n_periods": 3}},  # a scalar, not a column
        {"dataframe_split": {"columns": [["n_periods"]], "data": [[3]]}},
        {"dataframe_split": {"columns": ["n_periods", "n_periods"], "data": [[3, 4]]}},
        {"dataframe_split": {"columns": ["n_periods"], "data": [[3, 4]]}},
        {"dataframe_records": []},
        {"unknown": [{"n_periods": 3}]},
        [{"n_periods": 3}],
    ],
)
def test_anything_unusual_is_left_to_mlflows_own_parser(payload: object) -> None:
    assert rows(payload) is None


def test_non_json_bodies_and_content_types_are_left_to_mlflow() -> None:
    assert fast_rows(b"n_periods\n3\n", "text/csv", 365) is None
    assert fast_rows(b"{not json", JSON, 365) is None
    assert fast_rows(b'{"inputs": {"n_periods": [3]}}', None, 365) is None


def test_joined_predictions_are_one_flat_list_in_row_order() -> None:
    first, second = orjson.dumps([{"a": 1}, {"a": 2}]), orjson.dumps([{"a": 3}])
    joined = orjson.loads(join_predictions([first, second]))
    assert joined == {"predictions": [{"a": 1}, {"a": 2}, {"a": 3}]}
    assert orjson.loads(join_predictions([second])) == {"predictions": [{"a": 3}]}
