"""End to end, as a user would run it: `mlstack serve` and `mlflow models serve` as real
processes on the same registered model answer `/invocations` identically."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import running_api
from tests.conftest import TrackingServer

from .factories import mlflow_serve, new_version

PAYLOADS: list[tuple[str, bytes]] = [
    ("application/json", b'{"dataframe_split": {"columns": ["n_periods"], "data": [[6]]}}'),
    ("application/json", b'{"dataframe_records": [{"n_periods": 3, "level": 0.8}]}'),
    ("application/json", b'{"inputs": {"n_periods": [2, 4], "level": [0.9, 0.5]}}'),
    ("application/json", b'{"instances": [{"n_periods": 12}]}'),
    ("application/json", b'{"inputs": {"n_periods": [3]}, "params": {}}'),
    ("text/csv", b"n_periods,level\n5,0.7\n"),
]
BAD: list[tuple[str, bytes]] = [
    ("application/json", b'{"rows": [{"n_periods": 3}]}'),
    ("application/json", b'{"inputs": {"horizon": [3]}}'),
    ("application/json", b'{"inputs": '),
    ("text/plain", b"n_periods=3"),
]


def post(url: str, content_type: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def model(mlflow_server: TrackingServer) -> tuple[str, str]:
    name = "serving-e2e"
    return name, new_version(mlflow_server.uri, name)


@pytest.fixture(scope="module")
def ours(
    mlflow_server: TrackingServer, model: tuple[str, str], tmp_path_factory: Any
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("api")
    with running_api(folder, mlflow_server.uri, model[0], MODEL_POLL_SECONDS="1") as api:
        api.wait_ready()
        yield api.url


@pytest.fixture(scope="module")
def theirs(
    mlflow_server: TrackingServer, model: tuple[str, str], tmp_path_factory: Any
) -> Iterator[str]:
    """`mlflow models serve` of the same `@prod` version, started as the benchmark starts it."""
    with mlflow_serve(tmp_path_factory.mktemp("mlflow-serve"), mlflow_server.uri, model[0]) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize(("content_type", "body"), PAYLOADS)
def test_invocations_answers_exactly_what_mlflow_models_serve_answers(
    ours: str, theirs: str, content_type: str, body: bytes
) -> None:
    mine = post(f"{ours}/invocations", content_type, body)
    reference = post(f"{theirs}/invocations", content_type, body)
    assert reference[0] == 200
    assert mine == reference


@pytest.mark.slow
@pytest.mark.parametrize(("content_type", "body"), BAD)
def test_bad_payloads_get_the_same_status_as_from_mlflow_models_serve(
    ours: str, theirs: str, content_type: str, body: bytes
) -> None:
    assert (
        post(f"{ours}/invocations", content_type, body)[0]
        == post(f"{theirs}/invocations", content_type, body)[0]
    )


@pytest.mark.slow
def test_a_new_user_gets_forecasts_and_sees_the_version_in_metrics(
    ours: str, model: tuple[str, str]
) -> None:
    status, body = post(f"{ours}/predict", "application/json", b'{"horizon": 12}')
    assert status == 200
    assert body["model"]["version"] == model[1]
    assert len(body["forecast"]) == 12
    with urllib.request.urlopen(f"{ours}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert f'model_version="{model[1]}"' in text
