"""The front door of the forecast routes, in plain ASGI: each request's token checked once and
first, its body read once, parsed once, and answered; the parse agrees with the OpenAPI schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from services.forecasting.forecaster import Forecaster
from services.forecasting.frequency import Frequency
from services.forecasting.models import Spec, fit
from services.registry import Version
from services.serving import parse
from services.serving.auth import Guard
from services.serving.door import Door
from services.serving.holder import ModelHolder
from services.serving.metrics import build_metrics
from services.serving.models import ForeignPyfunc, Model, OwnForecasters
from services.serving.routers import invocations, predict
from services.serving.rules import MAX_LEVEL, MIN_HORIZON, MIN_LEVEL, Limits
from services.serving.schemas import PredictRequest
from services.serving.settings import Settings

TOKEN = "door-token-of-at-least-32-characters"
VALID = [
    ("/predict", {"horizon": 3}),
    ("/predict", {"horizon": 2, "level": 0.8}),
    ("/invocations", {"inputs": {"n_periods": [3]}}),
    (
        "/invocations",
        {"dataframe_records": [{"n_periods": 2, "level": 0.8}, {"n_periods": 1, "level": 0.9}]},
    ),
]


class Counting:
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


class Behind:
    """Stands in for the FastAPI app behind the door: records what reaches it, answers 299."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


ROUTES = {r.path: r for r in (*predict.router.routes, *invocations.router.routes)}  # type: ignore[attr-defined]


def door(model: Model | None = None, token: str | None = None, **limits: int) -> tuple[Any, Behind]:
    """The door (behind the token guard when `token` is set) serving `model`, else nothing."""
    config = Settings(api_token=token, max_horizon=10, max_body_bytes=1024, **limits)
    holder = ModelHolder(build_metrics(CollectorRegistry()), cache_bytes=64 * 1024)
    if model is not None:
        holder.swap(holder.build(Version("m", "7", "run", alias="prod"), model, 0.1))
    behind = Behind()
    app: Any = Door(behind, config, holder, ROUTES)
    if config.token is not None:
        app = Guard(app, config.token, ROUTES)
    return app, behind


def call(
    app: Any,
    path: str,
    body: bytes,
    headers: dict[bytes, bytes] | None = None,
    method: str = "POST",
    messages: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Run one request through `app`; (messages sent, the scope afterwards, body reads)."""
    default = {b"content-type": b"application/json", b"content-length": str(len(body)).encode()}
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": list((default if headers is None else headers).items()),
    }
    incoming = messages or [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, scope, reads


@pytest.mark.parametrize(("path", "payload"), VALID)
def test_a_valid_forecast_request_is_answered_at_the_door(path: str, payload: object) -> None:
    app, behind = door(ForeignPyfunc(Counting()))
    sent, scope, _ = call(app, path, orjson.dumps(payload))
    assert behind.paths == []
    start, body = sent
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-type"] == b"application/json"
    assert int(dict(start["headers"])[b"content-length"]) == len(body["body"])
    answer = orjson.loads(body["body"])
    rows = answer["forecast"] if path == "/predict" else answer["predictions"]
    assert rows[0] == {"ds": "2000-01-01", "yhat": 1.0, "yhat_lower": 0.0, "yhat_upper": 2.0}
    assert scope["route"].path == path  # the handler label of the request metrics


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/predict", b'{"horizon": "3"}', 422, "horizon"),
        ("/predict", b'{"horizon": 11}', 422, "horizon"),
        ("/predict", b'{"horizon": 3, "extra": 1}', 422, "extra"),
        ("/predict", b'{"horizon": ', 422, "JSON"),
        ("/invocations", b'{"inputs": {"n_periods": [0]}}', 400, "n_periods"),
        ("/invocations", b'{"rows": []}', 400, "dataframe_split"),
    ],
)
def test_a_request_that_breaks_a_rule_is_answered_at_the_door_naming_it(
    path: str, body: bytes, status: int, field: str
) -> None:
    app, behind = door(ForeignPyfunc(Counting()))
    sent, scope, _ = call(app, path, body)
    assert behind.paths == []
    assert sent[0]["status"] == status
    assert field in sent[1]["body"].decode()
    assert scope["route"].path == path


def test_predict_problems_are_written_as_fastapis_validation_errors() -> None:
    app, _ = door(ForeignPyfunc(Counting()))
    sent, _, _ = call(app, "/predict", b'{"horizon": 11, "level": NaN}')
    detail = orjson.loads(sent[1]["body"])["detail"]
    assert sorted(d["loc"] for d in detail) == [["body", "horizon"], ["body", "level"]]
    assert {d["input"] for d in detail} == {11, "NaN"}
    assert all(isinstance(d["msg"], str) and isinstance(d["type"], str) for d in detail)


def test_without_a_model_the_door_answers_503_with_retry_after() -> None:
    app, behind = door()
    sent, _, _ = call(app, "/predict", b'{"horizon": 3}')
    assert sent[0]["status"] == 503
    assert dict(sent[0]["headers"])[b"retry-after"] == b"5"
    assert "model not loaded" in orjson.loads(sent[1]["body"])["detail"]
    assert behind.paths == []


def test_other_methods_and_paths_pass_to_the_app_behind() -> None:
    app, behind = door(ForeignPyfunc(Counting()))
    assert call(app, "/predict", b"", method="GET")[0][0]["status"] == 299
    assert call(app, "/model", b"", method="GET")[0][0]["status"] == 299
    assert behind.paths == ["/predict", "/model"]


@pytest.mark.parametrize(
    ("header", "answered"),
    [
        (f"Bearer {TOKEN}", True),
        (None, False),
        ("Bearer wrong", False),
        (f"Bearer {TOKEN}x", False),
    ],
)
def test_with_a_token_only_the_exact_bearer_header_gets_past_the_guard(
    header: str | None, answered: bool
) -> None:
    app, _ = door(ForeignPyfunc(Counting()), token=TOKEN)
    body = orjson.dumps({"horizon": 3})
    headers = {b"content-type": b"application/json", b"content-length": str(len(body)).encode()}
    if header:
        headers[b"authorization"] = header.encode()
    sent, _, _ = call(app, "/predict", body, headers=headers)
    assert sent[0]["status"] == (200 if answered else 401)


@pytest.mark.parametrize("path", ["/predict", "/invocations"])
@pytest.mark.parametrize("body", [b'{"horizon": ', b'{"horizon": "x"}', b"\xff", b""])
def test_without_the_token_any_body_gets_401_before_it_is_read(path: str, body: bytes) -> None:
    app, _ = door(ForeignPyfunc(Counting()), token=TOKEN)
    sent, scope, reads = call(app, path, body)
    assert sent[0]["status"] == 401
    assert dict(sent[0]["headers"])[b"www-authenticate"] == b"Bearer"
    assert reads == 0  # the body was never asked for
    assert scope["route"].path == path


def test_a_body_in_several_chunks_is_read_whole_once() -> None:
    app, _ = door(ForeignPyfunc(Counting()))
    body = orjson.dumps({"inputs": {"n_periods": [2]}})
    chunks = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.request", "body": body[5:], "more_body": False},
    ]
    sent, _, reads = call(app, "/invocations", body, messages=chunks)
    assert sent[0]["status"] == 200
    assert len(orjson.loads(sent[1]["body"])["predictions"]) == 2
    assert reads == 2


def test_a_client_gone_before_its_body_gets_no_answer() -> None:
    app, behind = door(ForeignPyfunc(Counting()))
    sent, _, _ = call(app, "/predict", b'{"horizon": 3}', messages=[{"type": "http.disconnect"}])
    assert sent == []
    assert behind.paths == []


def own_forecasters() -> OwnForecasters:
    """Our own forecasters of three series (seasonal naive on waves)."""
    monthly = Frequency("MS", 12)
    by_id = {
        uid: Forecaster(
            fit(Spec("seasonal_naive"), 10.0 * (i + 1) + np.sin(np.arange(36)), 12),
            monthly,
            pd.Timestamp("2002-12-01"),
        )
        for i, uid in enumerate(["a", "b", "c"])
    }
    return OwnForecasters(by_id, Path("."))


PANEL_VALID = [
    ("/predict", {"horizon": 2, "series": "b"}, ["b", "b"]),
    ("/predict", {"horizon": 1, "series": ["c", "a"], "level": 0.8}, ["c", "a"]),
    ("/invocations", {"inputs": {"unique_id": ["a", "c"], "n_periods": [1, 2]}}, ["a", "c", "c"]),
]


@pytest.mark.parametrize(("path", "payload", "ids"), PANEL_VALID)
def test_requests_naming_served_series_are_answered_from_our_own_forecasters(
    path: str, payload: object, ids: list[str]
) -> None:
    app, _ = door(own_forecasters(), max_series_per_request=2)
    sent, _, _ = call(app, path, orjson.dumps(payload))
    answer = orjson.loads(sent[1]["body"])
    rows = answer["forecast"] if path == "/predict" else answer["predictions"]
    assert [row["unique_id"] for row in rows] == ids
    assert list(rows[0]) == ["unique_id", "ds", "yhat", "yhat_lower", "yhat_upper"]


SCALARS = st.one_of(st.integers(-2, 12), st.floats(), st.booleans(), st.none(), st.text(max_size=3))
KNOWN = frozenset({"a", "b"})
IDS = st.one_of(st.sampled_from(["a", "b", "z"]), SCALARS)
PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "horizon": st.one_of(
            st.sampled_from([0, 1, 10, 11]), SCALARS, st.lists(SCALARS, max_size=2)
        ),
        "level": st.one_of(st.floats(-0.5, 1.5), SCALARS, st.lists(SCALARS, max_size=2)),
        "series": st.one_of(IDS, st.lists(IDS, max_size=4)),
        "other": SCALARS,
    },
)


class Known:
    series = KNOWN


# What it checks is the answer, not its speed: no deadline or slowness check on a loaded machine.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(PAYLOADS)
@example({"horizon": 11, "series": "a"})  # the boundaries the schema cannot say, besides
@example({"horizon": 10, "series": ["a", "b", "a"]})  # whatever hypothesis finds
@example({"horizon": 10, "series": ["a", "b", "a", "b"]})
@example({"horizon": 1, "series": ["a", "z"]})
@example({"horizon": 1, "level": 0.5, "series": "b"})
def test_the_parse_accepts_a_predict_body_exactly_when_the_schema_does(payload: dict) -> None:  # type: ignore[type-arg]
    """Within the settings' bounds (MAX_HORIZON, MAX_SERIES_PER_REQUEST) and the served series,
    which the schema cannot say, the door and `PredictRequest` accept the same bodies."""
    body = json.dumps(payload).encode()  # NaN and Infinity included, as a client may send them
    found = parse.predict(body, ("application/json", "utf-8"), Limits(10, 3, 30), Known())  # type: ignore[arg-type]
    try:
        request = PredictRequest.model_validate_json(body)
    except ValidationError:
        assert isinstance(found, parse.Problems)
        return
    series = request.series if isinstance(request.series, list) else [request.series]
    within = request.horizon <= 10 and len(series) <= 3 and set(series) <= KNOWN
    if not within:
        assert isinstance(found, parse.Problems)
        return
    assert found == [(s, request.horizon, request.level) for s in series]


def test_openapi_describes_both_routes_with_the_parses_bounds() -> None:
    from fastapi.testclient import TestClient

    from services.serving.app import create_app

    app = create_app(
        Settings(mlflow_tracking_uri="http://127.0.0.1:9"), registry=CollectorRegistry()
    )
    spec = TestClient(app).get("/openapi.json").json()  # no lifespan: no model needed
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/PredictRequest")
    fields = spec["components"]["schemas"]["PredictRequest"]["properties"]
    assert fields["horizon"]["minimum"] == MIN_HORIZON
    level = next(s for s in fields["level"]["anyOf"] if s.get("type") == "number")
    assert (level["exclusiveMinimum"], level["exclusiveMaximum"]) == (MIN_LEVEL, MAX_LEVEL)
    invocation = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert set(invocation) == {parse.JSON, parse.CSV}
    assert set(invocation[parse.JSON]["schema"]["properties"]) == {*parse.FORMATS, "params"}
    # The documented statuses are those the door answers.
    assert {"200", "401", "413", "422", "503"} <= set(
        spec["paths"]["/predict"]["post"]["responses"]
    )
    assert {"200", "400", "401", "413", "415", "503"} <= set(
        spec["paths"]["/invocations"]["post"]["responses"]
    )
    # At the bounds, the parse says what the schema says.
    limits, model = Limits(10, 3, 30), ForeignPyfunc(Counting())
    media = ("application/json", "utf-8")
    for horizon, ok in [(MIN_HORIZON - 1, False), (MIN_HORIZON, True), (10, True), (11, False)]:
        found = parse.predict(b'{"horizon": %d}' % horizon, media, limits, model)  # type: ignore[arg-type]
        assert isinstance(found, list) is ok
    for value, ok in [(MIN_LEVEL, False), (MAX_LEVEL, False), (0.5, True)]:
        found = parse.predict(b'{"horizon": 1, "level": %r}' % value, media, limits, model)  # type: ignore[arg-type]
        assert isinstance(found, list) is ok


def test_a_value_nested_a_thousand_deep_is_echoed_cut_short() -> None:
    app, _ = door(ForeignPyfunc(Counting()))
    sent, _, _ = call(app, "/predict", b'{"horizon": ' + b"[" * 1000 + b"]" * 1000 + b"}")
    assert sent[0]["status"] == 422
    (problem,) = orjson.loads(sent[1]["body"])["detail"]
    assert problem["loc"] == ["body", "horizon"]
    assert json.dumps(problem["input"]).count("[") <= 10
