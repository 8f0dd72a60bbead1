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


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
)
def test_predict_answers_415_naming_json_for_other_content_types(
    served: ServedApp, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = served.client.post("/predict", content=b'{"horizon": 3}', headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


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
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/json; charset=latin-1",
        None,
    ],
)
def test_invocations_answers_415_for_other_content_types(
    served: ServedApp, content_type: str | None
) -> None:
    response = invoke(served, b'{"inputs": {"n_periods": [3]}}', content_type)
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    assert "text/csv" in response.json()["message"]


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


def test_invocations_as_csv_keeps_the_row_limit(served: ServedApp) -> None:
    rows = b"n_periods\n" + b"1\n" * 101  # one over the default MAX_SERIES_PER_REQUEST
    response = invoke(served, rows, "text/csv")
    assert response.status_code == 422
    assert "MAX_SERIES_PER_REQUEST" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (b'{"inputs": {"n_periods": [2.5]}}', "application/json", "n_periods"),
        (b'{"inputs": {"n_periods": [3.0]}}', "application/json", "n_periods"),
        (b'{"inputs": {"n_periods": ["12"]}}', "application/json", "n_periods"),
        (b'{"inputs": {"n_periods": [true]}}', "application/json", "n_periods"),
        (b'{"inputs": {"n_periods": [2.5]}, "params": {}}', "application/json", "n_periods"),
        (b'{"dataframe_records": [{"n_periods": 2.5}]}', "application/json", "n_periods"),
        (b'{"inputs": {"n_periods": [3], "level": ["0.9"]}}', "application/json", "level"),
        (b'{"inputs": {"n_periods": [3], "level": [true]}}', "application/json", "level"),
        (b"n_periods\n2.5\n", "text/csv", "n_periods"),
    ],
)
def test_invocations_takes_strict_numbers_as_predict_does(
    served: ServedApp, body: bytes, content_type: str, field: str
) -> None:
    response = invoke(served, body, content_type)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


@pytest.mark.parametrize("body", [{"horizon": "12"}, {"horizon": 3, "level": "0.9"}])
def test_predict_refuses_numbers_sent_as_strings(served: ServedApp, body: Any) -> None:
    assert predict_error(served, body)[0] == 422


@pytest.mark.parametrize(
    "body",
    [
        # An id the model does not know goes to MLflow's own scorer, whose message quotes it.
        {"dataframe_records": [{"unique_id": "u" * 20_000, "n_periods": 3}], "params": {}},
        {"dataframe_records": [{"unique_id": "u" * 20_000, "n_periods": 3}, {"n_periods": 2}]},
    ],
)
def test_an_error_from_mlflows_scorer_quotes_the_request_cut_short(
    served: ServedApp, body: Any
) -> None:
    response = served.client.post("/invocations", json=body)
    assert 400 <= response.status_code < 500
    assert len(response.content) < 2_000, response.text[:300]
