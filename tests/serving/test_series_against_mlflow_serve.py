"""End to end for a model of many series: `mlstack serve` and `mlflow models serve` as real
processes on the same registered model answer `/invocations` with a `unique_id` column
identically, errors included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import running_api

from .conftest import Panel
from .factories import mlflow_serve
from .test_against_mlflow_serve import post


def payloads(ids: list[str]) -> dict[str, tuple[str, bytes]]:
    """Requests for one, several and repeated series, in every format MLflow takes."""
    a, b, c = ids[0], ids[3], ids[-1]
    bodies: dict[str, object] = {
        "one series": {"inputs": {"unique_id": [a], "n_periods": [6]}},
        "several series": {
            "dataframe_records": [
                {"unique_id": b, "n_periods": 3, "level": 0.8},
                {"unique_id": a, "n_periods": 2, "level": 0.5},
                {"unique_id": b, "n_periods": 1, "level": 0.99},
            ]
        },
        "split": {"dataframe_split": {"columns": ["unique_id", "n_periods"], "data": [[c, 4]]}},
        "instances": {"instances": [{"unique_id": c, "n_periods": 2}]},
        "params": {"inputs": {"unique_id": [a, c], "n_periods": [2, 3]}, "params": {}},
    }
    found = {k: ("application/json", json.dumps(v).encode()) for k, v in bodies.items()}
    found["csv"] = ("text/csv", f"unique_id,n_periods,level\n{b},5,0.7\n{c},1,0.9\n".encode())
    return found


@pytest.fixture(scope="module")
def ours(panel: Panel, tmp_path_factory: Any) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("api-panel")
    with running_api(folder, panel.uri, panel.name, MODEL_POLL_SECONDS="1") as api:
        api.wait_ready()
        yield api.url


@pytest.fixture(scope="module")
def theirs(panel: Panel, tmp_path_factory: Any) -> Iterator[str]:
    """`mlflow models serve` of the same `@prod` version, started as the benchmark starts it."""
    with mlflow_serve(tmp_path_factory.mktemp("mlflow-serve-panel"), panel.uri, panel.name) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["one series", "several series", "split", "instances", "params", "csv"]
)
def test_invocations_with_unique_id_answers_exactly_what_mlflow_models_serve_answers(
    ours: str, theirs: str, panel: Panel, case: str
) -> None:
    content_type, body = payloads(panel.ids)[case]
    mine = post(f"{ours}/invocations", content_type, body)
    reference = post(f"{theirs}/invocations", content_type, body)
    assert reference[0] == 200
    assert mine == reference


@pytest.mark.slow
@pytest.mark.parametrize(
    "frame",
    [
        {"unique_id": ["no-such-series"], "n_periods": [2]},
        {"n_periods": [2]},
        {"unique_id": [1], "n_periods": [2]},
    ],
    ids=["an unknown id", "no unique_id for a model of several", "a numeric id"],
)
def test_a_bad_unique_id_gets_the_same_answer_as_from_mlflow_models_serve(
    ours: str, theirs: str, frame: dict[str, list[object]]
) -> None:
    body = json.dumps({"inputs": frame}).encode()
    mine = post(f"{ours}/invocations", "application/json", body)
    reference = post(f"{theirs}/invocations", "application/json", body)
    assert mine[0] == reference[0] == 400
    assert json.loads(mine[1]) == json.loads(reference[1])
