"""Bad input gets a 4xx that names what is wrong; nothing a client sends causes a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ServedApp

MAX_BODY = 64 * 1024  # the default MAX_BODY_BYTES


def predict_error(served: ServedApp, body: Any) -> tuple[int, str]:
    response = served.client.post("/predict", json=body)
    return response.status_code, response.text


@pytest.fixture(scope="module", autouse=True)
def healthy_after_all_that(served: ServedApp) -> Iterator[None]:
    """After the module's last test: still ready, and no bad input was answered with a 5xx."""
    yield
    assert served.client.get("/readyz").status_code == 200
    errors = [
        s
        for f in served.registry.collect()
        if f.name == "http_requests"
        for s in f.samples
        if s.name == "http_requests_total"
        and s.labels["handler"] in ("/predict", "/invocations")
        and s.labels["status"].startswith("5")
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "horizon"),
        ({"level": 0.9}, "horizon"),
        ({"horizon": "7"}, "horizon"),
        ({"horizon": 7.5}, "horizon"),
        ({"horizon": 7.0}, "horizon"),
        ({"horizon": True}, "horizon"),
        ({"horizon": None}, "horizon"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": -3}, "horizon"),
        ({"horizon": 366}, "horizon"),
        ({"horizon": 10**30}, "horizon"),
        ({"horizon": 3, "level": 0}, "level"),
        ({"horizon": 3, "level": 1}, "level"),
        ({"horizon": 3, "level": 1.5}, "level"),
        ({"horizon": 3, "level": "high"}, "level"),
        ({"horizon": 3, "periods": 4}, "periods"),
        ([3], "body"),
    ],
)
def test_predict_names_the_bad_field(served: ServedApp, body: Any, field: str) -> None:
    status, text = predict_error(served, body)
    assert status == 422
    assert field in text


def test_predict_refuses_malformed_json(served: ServedApp) -> None:
    response = served.client.post(
        "/predict", content=b'{"horizon": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.text


def test_predict_refuses_nan_and_infinity(served: ServedApp) -> None:
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"horizon": 3, "level": ' + literal + b"}"
        response = served.client.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, literal
        assert "level" in response.text


def test_predict_refuses_a_non_json_content_type(served: ServedApp) -> None:
    response = served.client.post(
        "/predict", content=b'{"horizon": 3}', headers={"content-type": "text/plain"}
    )
    # Not read as JSON: the body is one string, which the request model refuses.
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body"]]


def invoke(served: ServedApp, body: bytes, content_type: str | None = "application/json") -> Any:
    headers = {"content-type": content_type} if content_type else {}
    return served.client.post("/invocations", content=body, headers=headers)


def test_invocations_names_the_accepted_formats_for_an_unknown_one(served: ServedApp) -> None:
    response = invoke(served, b'{"rows": [{"n_periods": 3}]}')
    assert response.status_code == 400
    message = response.json()["message"]
    for fmt in ("dataframe_split", "dataframe_records", "inputs", "instances"):
        assert fmt in message


def test_invocations_refuses_two_formats_at_once(served: ServedApp) -> None:
    body = b'{"inputs": {"n_periods": [3]}, "instances": [{"n_periods": 3}]}'
    assert invoke(served, body).status_code == 400


def test_invocations_names_the_missing_column(served: ServedApp) -> None:
    response = invoke(served, b'{"inputs": {"horizon": [3]}}')
    assert response.status_code == 400
    assert "n_periods" in response.json()["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"inputs": {"n_periods": [366]}}', "n_periods"),
        (b'{"inputs": {"n_periods": [0]}}', "n_periods"),
        (b'{"inputs": {"n_periods": [100000000000]}}', "n_periods"),
        (b'{"inputs": {"n_periods": [3], "level": [1.5]}}', "level"),
        (b'{"dataframe_records": [{"n_periods": 3, "level": 0.0}]}', "level"),
        (b'{"inputs": {"n_periods": ["three"]}}', "n_periods"),
    ],
)
def test_invocations_names_the_out_of_range_field(
    served: ServedApp, payload: bytes, field: str
) -> None:
    response = invoke(served, payload)
    assert response.status_code == 400
    assert field in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [b'{"inputs": ', b"[1, 2]", b'"text"', b"\xff\xfe", b"", b'{"inputs": {"n_periods": [NaN]}}'],
)
def test_invocations_refuses_malformed_json_with_400(served: ServedApp, body: bytes) -> None:
    response = invoke(served, body)
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_invocations_refuses_nan_and_infinity_levels(served: ServedApp) -> None:
    response = invoke(served, b'{"inputs": {"n_periods": [3], "level": [Infinity]}}')
    assert response.status_code == 400
    assert "level" in response.json()["message"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/json; charset=latin-1", None]
)
def test_invocations_answers_415_for_other_content_types(
    served: ServedApp, content_type: str | None
) -> None:
    response = invoke(served, b'{"inputs": {"n_periods": [3]}}', content_type)
    assert response.status_code == 415


@pytest.mark.parametrize("route", ["/predict", "/invocations"])
def test_bodies_over_the_limit_get_413(served: ServedApp, route: str) -> None:
    body = b'{"inputs": {"n_periods": [' + b"1," * MAX_BODY + b"1]}}"
    response = served.client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_streamed_body_over_the_limit_gets_413(served: ServedApp) -> None:
    def chunks() -> Any:
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    response = served.client.post(
        "/invocations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_deeply_nested_json_is_a_400_not_a_crash(served: ServedApp) -> None:
    body = b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert invoke(served, body).status_code == 400
