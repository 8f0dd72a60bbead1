"""The plain-ASGI hot path: it answers valid forecast requests itself, exactly as the routes do,
and hands everything else to the routes with the body intact."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from services.forecasting.forecaster import Forecaster
from services.forecasting.frequency import Frequency
from services.forecasting.models import Spec, fit
from services.serving.fastpath import FastPath, predict_row
from services.serving.holder import ModelHolder
from services.serving.loader import JsonForecaster, ModelRef
from services.serving.metrics import build_metrics
from services.serving.routers import invocations, predict
from services.serving.schemas import PredictRequest
from services.serving.settings import Settings

TOKEN = "fast-path-token"
VALID = [
    ("/predict", {"horizon": 3}),
    ("/predict", {"horizon": 2, "level": 0.8}),
    ("/invocations", {"inputs": {"n_periods": [3]}}),
    (
        "/invocations",
        {"dataframe_records": [{"n_periods": 2, "level": 0.8}, {"n_periods": 1, "level": 0.9}]},
    ),
]


class Model:
    """Forecasts 1, 2, 3, ... with bounds one either side."""

    def predict(self, data: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        n = int(data["n_periods"].iloc[0])
        yhat = [float(i + 1) for i in range(n)]
        return pd.DataFrame(
            {
                "ds": [f"2000-01-{i + 1:02d}" for i in range(n)],
                "yhat": yhat,
                "yhat_lower": [v - 1 for v in yhat],
                "yhat_upper": [v + 1 for v in yhat],
            }
        )


class Routes:
    """Stands in for the FastAPI routes: records what reaches it and answers 299."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def fast_path(token: str | None = None, loaded: bool = True) -> tuple[FastPath, Routes]:
    config = Settings(api_token=token, max_horizon=10, max_body_bytes=1024)
    holder = ModelHolder(build_metrics(CollectorRegistry()), cache_bytes=64 * 1024)
    if loaded:
        holder.swap(holder.build(ModelRef("m", "7", "run", "prod"), Model(), 0.1))
    labels = {r.path: r for r in (*predict.router.routes, *invocations.router.routes)}  # type: ignore[attr-defined]
    routes = Routes()
    return FastPath(routes, config, holder, labels), routes


def call(
    app: FastPath,
    path: str,
    body: bytes,
    headers: dict[bytes, bytes] | None = None,
    method: str = "POST",
    messages: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run one request through `app`; (messages sent, the scope afterwards)."""
    default = {b"content-type": b"application/json", b"content-length": str(len(body)).encode()}
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": list((default if headers is None else headers).items()),
    }
    incoming = messages or [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, scope


@pytest.mark.parametrize(("path", "payload"), VALID)
def test_a_valid_forecast_request_is_answered_without_the_routes(
    path: str, payload: object
) -> None:
    app, routes = fast_path()
    sent, scope = call(app, path, orjson.dumps(payload))
    assert routes.bodies == []
    start, body = sent
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-type"] == b"application/json"
    answer = orjson.loads(body["body"])
    assert int(dict(start["headers"])[b"content-length"]) == len(body["body"])
    rows = answer["forecast"] if path == "/predict" else answer["predictions"]
    assert rows[0] == {"ds": "2000-01-01", "yhat": 1.0, "yhat_lower": 0.0, "yhat_upper": 2.0}
    assert scope["route"].path == path  # the handler label of the request metrics


NOT_FOR_THE_FAST_PATH = {
    "malformed JSON": ("/predict", b'{"horizon": '),
    "horizon as a string": ("/predict", b'{"horizon": "3"}'),
    "horizon as a float": ("/predict", b'{"horizon": 3.0}'),
    "horizon as a boolean": ("/predict", b'{"horizon": true}'),
    "horizon over the limit": ("/predict", b'{"horizon": 11}'),
    "level of 1": ("/predict", b'{"horizon": 3, "level": 1.0}'),
    "an unknown field": ("/predict", b'{"horizon": 3, "extra": 1}'),
    "no horizon": ("/predict", b'{"level": 0.5}'),
    "not an object": ("/predict", b"[3]"),
    "MLflow params": ("/invocations", b'{"inputs": {"n_periods": [3]}, "params": {}}'),
    "another column": ("/invocations", b'{"inputs": {"n_periods": [3], "x": [1]}}'),
    "n_periods of 0": ("/invocations", b'{"inputs": {"n_periods": [0]}}'),
}


@pytest.mark.parametrize(
    ("path", "body"), NOT_FOR_THE_FAST_PATH.values(), ids=list(NOT_FOR_THE_FAST_PATH)
)
def test_any_other_body_goes_to_the_routes_intact(path: str, body: bytes) -> None:
    app, routes = fast_path()
    sent, _ = call(app, path, body)
    assert routes.bodies == [body]
    assert sent[0]["status"] == 299


def test_requests_the_fast_path_must_not_judge_go_to_the_routes() -> None:
    body = orjson.dumps({"horizon": 3})
    length = str(len(body)).encode()
    cases = [
        ("GET", {b"content-length": length}),
        ("POST", {b"content-type": b"text/csv", b"content-length": length}),
        ("POST", {b"content-type": b"application/json"}),  # chunked: no length to check
        ("POST", {b"content-type": b"application/json", b"content-length": b"2048"}),
    ]
    for method, headers in cases:
        app, routes = fast_path()
        sent, _ = call(app, "/predict", body, headers=headers, method=method)
        assert sent[0]["status"] == 299, (method, headers)
        assert routes.bodies == [body]
    app, routes = fast_path(loaded=False)
    assert call(app, "/predict", body)[0][0]["status"] == 299  # no model: the route's 503
    assert routes.bodies == [body]


@pytest.mark.parametrize(
    ("header", "answered_here"),
    [
        (f"Bearer {TOKEN}", True),
        (None, False),
        ("Bearer wrong", False),
        (f"Bearer {TOKEN}x", False),
    ],
)
def test_with_a_token_only_the_exact_bearer_header_is_answered_here(
    header: str | None, answered_here: bool
) -> None:
    app, routes = fast_path(token=TOKEN)
    body = orjson.dumps({"horizon": 3})
    headers = {b"content-type": b"application/json", b"content-length": str(len(body)).encode()}
    if header:
        headers[b"authorization"] = header.encode()
    sent, _ = call(app, "/predict", body, headers=headers)
    assert (sent[0]["status"] == 200) is answered_here
    assert routes.bodies == ([] if answered_here else [body])


def test_a_body_in_several_chunks_is_read_whole() -> None:
    app, _ = fast_path()
    body = orjson.dumps({"inputs": {"n_periods": [2]}})
    chunks = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.request", "body": body[5:], "more_body": False},
    ]
    sent, _ = call(app, "/invocations", body, messages=chunks)
    assert sent[0]["status"] == 200
    assert len(orjson.loads(sent[1]["body"])["predictions"]) == 2


def test_a_client_gone_before_its_body_gets_no_answer() -> None:
    app, routes = fast_path()
    sent, _ = call(app, "/predict", b'{"horizon": 3}', messages=[{"type": "http.disconnect"}])
    assert sent == []
    assert routes.bodies == []


SCALARS = st.one_of(st.integers(-2, 12), st.floats(), st.booleans(), st.none(), st.text(max_size=3))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=5))


# What it checks is the answer, not its speed: no deadline or slowness check on a loaded machine.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["horizon", "level", "series", "other"]), VALUES))
def test_the_fast_path_reads_a_predict_body_only_as_the_route_would(payload: dict) -> None:  # type: ignore[type-arg]
    body = json.dumps(payload).encode()  # NaN and Infinity included, as a client may send them
    row = predict_row(body, max_horizon=10, max_series=3)
    if row is None:
        return  # the route decides
    request = PredictRequest.model_validate_json(body)  # raises if the route would refuse it
    assert row == (request.asked, request.horizon, request.level)
    assert request.over_limit(max_horizon=10, max_series=3) is None


def panel_path() -> tuple[FastPath, Routes]:
    """The fast path serving our own forecasters of three series (seasonal naive on waves)."""
    config = Settings(max_horizon=10, max_body_bytes=1024, max_series_per_request=2)
    holder = ModelHolder(build_metrics(CollectorRegistry()), cache_bytes=64 * 1024)
    monthly = Frequency("MS", 12)
    by_id = {
        uid: Forecaster(
            fit(Spec("seasonal_naive"), 10.0 * (i + 1) + np.sin(np.arange(36)), 12),
            monthly,
            pd.Timestamp("2002-12-01"),
        )
        for i, uid in enumerate(["a", "b", "c"])
    }
    model = JsonForecaster(by_id, Path("."))
    holder.swap(holder.build(ModelRef("m", "7", "run", "prod"), model, 0.1))
    labels = {r.path: r for r in (*predict.router.routes, *invocations.router.routes)}  # type: ignore[attr-defined]
    routes = Routes()
    return FastPath(routes, config, holder, labels), routes


PANEL_VALID = [
    ("/predict", {"horizon": 2, "series": "b"}, ["b", "b"]),
    ("/predict", {"horizon": 1, "series": ["c", "a"], "level": 0.8}, ["c", "a"]),
    ("/invocations", {"inputs": {"unique_id": ["a", "c"], "n_periods": [1, 2]}}, ["a", "c", "c"]),
]


@pytest.mark.parametrize(("path", "payload", "ids"), PANEL_VALID)
def test_requests_naming_served_series_are_answered_without_the_routes(
    path: str, payload: object, ids: list[str]
) -> None:
    app, routes = panel_path()
    sent, _ = call(app, path, orjson.dumps(payload))
    assert routes.bodies == []
    answer = orjson.loads(sent[1]["body"])
    rows = answer["forecast"] if path == "/predict" else answer["predictions"]
    assert [row["unique_id"] for row in rows] == ids
    assert list(rows[0]) == ["unique_id", "ds", "yhat", "yhat_lower", "yhat_upper"]


PANEL_FOR_THE_ROUTES = {
    "no series for a model of several": ("/predict", b'{"horizon": 2}'),
    "an unknown series": ("/predict", b'{"horizon": 2, "series": "z"}'),
    "an unknown one in a list": ("/predict", b'{"horizon": 2, "series": ["a", "z"]}'),
    "more than the limit": ("/predict", b'{"horizon": 2, "series": ["a", "b", "c"]}'),
    "an empty list": ("/predict", b'{"horizon": 2, "series": []}'),
    "a number as id": ("/predict", b'{"horizon": 2, "series": 1}'),
    "rows without unique_id": ("/invocations", b'{"inputs": {"n_periods": [2]}}'),
    "an unknown unique_id": ("/invocations", b'{"inputs": {"unique_id": ["z"], "n_periods": [2]}}'),
    "a numeric unique_id": ("/invocations", b'{"inputs": {"unique_id": [1], "n_periods": [2]}}'),
}


@pytest.mark.parametrize(
    ("path", "body"), PANEL_FOR_THE_ROUTES.values(), ids=list(PANEL_FOR_THE_ROUTES)
)
def test_requests_the_served_series_rules_refuse_go_to_the_routes(path: str, body: bytes) -> None:
    app, routes = panel_path()
    sent, _ = call(app, path, body)
    assert routes.bodies == [body]
    assert sent[0]["status"] == 299
