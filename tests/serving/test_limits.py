"""How much one request may ask for (issue 32, item 4): the same two limits on both forecast
routes, forecasts (series named, or rows) and forecast rows in all, refused with a 422 that names
them, before any forecasting work."""

from __future__ import annotations

import json

import orjson
import pytest

from services.serving.models import ForeignPyfunc

from .test_door import Counting, call, door

LIMITS = {"max_series_per_request": 2, "max_points_per_request": 15}  # max_horizon is 10


class Refusing(Counting):
    """A model that must not be asked: the limits come before any forecast."""

    def predict(self, data, params=None):  # type: ignore[no-untyped-def]
        raise AssertionError("a request over the limits reached the model")


def says_both_limits(text: str) -> None:
    assert "MAX_SERIES_PER_REQUEST" in text and "MAX_POINTS_PER_REQUEST" in text, text


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": {"n_periods": [1, 1, 1]}},
        {"dataframe_records": [{"n_periods": 1}] * 3},
        {"inputs": {"n_periods": [1, 1, 1]}, "params": {"x": 1}},  # MLflow's own parse too
        {"dataframe_records": [{"n_periods": 1.5}] * 3},  # counted before anything else
    ],
)
def test_invocations_refuses_more_rows_than_max_series_per_request(payload: object) -> None:
    app, _ = door(ForeignPyfunc(Refusing()), **LIMITS)
    sent, _, _ = call(app, "/invocations", json.dumps(payload).encode())
    assert sent[0]["status"] == 422
    says_both_limits(orjson.loads(sent[1]["body"])["message"])


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": {"n_periods": [10, 6]}},
        {"inputs": {"n_periods": [10, 6]}, "params": {"x": 1}},
    ],
)
def test_invocations_refuses_more_forecast_rows_than_max_points_per_request(
    payload: object,
) -> None:
    app, _ = door(ForeignPyfunc(Refusing()), **LIMITS)
    sent, _, _ = call(app, "/invocations", json.dumps(payload).encode())
    assert sent[0]["status"] == 422
    message = orjson.loads(sent[1]["body"])["message"]
    says_both_limits(message)
    assert "16 rows in all" in message


def test_predict_refuses_series_times_horizon_over_max_points_per_request() -> None:
    app, _ = door(ForeignPyfunc(Refusing()), **LIMITS)
    sent, _, _ = call(app, "/predict", b'{"horizon": 8, "series": ["a", "b"]}')
    assert sent[0]["status"] == 422
    (problem,) = orjson.loads(sent[1]["body"])["detail"]
    says_both_limits(problem["msg"])


def test_requests_within_the_limits_are_answered() -> None:
    app, _ = door(ForeignPyfunc(Counting()), **LIMITS)
    sent, _, _ = call(app, "/invocations", b'{"inputs": {"n_periods": [10, 5]}}')
    assert sent[0]["status"] == 200
    assert len(orjson.loads(sent[1]["body"])["predictions"]) == 15
