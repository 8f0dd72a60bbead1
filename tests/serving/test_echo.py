"""What an error quotes of a request is cut short (issue 32, item 10): a long id, a long list of
ids or a huge number is shown by its start and its size, so no error is larger than it needs."""

from __future__ import annotations

import json

import orjson
import pytest

from services.serving import echo
from services.serving.models import ForeignPyfunc

from .test_door import Counting, call, door

SMALL = 1_000  # bytes: an error's size whatever the request holds


@pytest.mark.parametrize(
    "body",
    [
        {"horizon": 3, "series": "x" * 5_000},  # an unknown id of 5,000 characters
        {"horizon": 3, "series": [f"id-{i}" for i in range(101)]},  # too many ids
        {"horizon": 3, "series": ["y" * 5_000]},  # in a list
        {"horizon": 10**4000},  # a number of 4,000 digits
        {"horizon": 3, "level": "z" * 5_000},
    ],
)
def test_predict_errors_quote_the_request_cut_short(body: object) -> None:
    app, _ = door(ForeignPyfunc(Counting()), max_series_per_request=100)
    sent, _, _ = call(app, "/predict", json.dumps(body).encode())
    assert sent[0]["status"] == 422
    assert len(sent[1]["body"]) < SMALL, sent[1]["body"][:200]


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": {"n_periods": ["q" * 5_000]}},
        {"inputs": {"n_periods": [3], "level": ["w" * 5_000]}},
        {"e" * 5_000: {"n_periods": [3]}},  # an unknown format
    ],
)
def test_invocations_errors_quote_the_request_cut_short(payload: object) -> None:
    app, _ = door(ForeignPyfunc(Counting()))
    sent, _, _ = call(app, "/invocations", json.dumps(payload).encode())
    assert 400 <= sent[0]["status"] < 500
    assert len(sent[1]["body"]) < SMALL, sent[1]["body"][:200]


def test_a_long_value_is_shown_by_its_start_and_its_size() -> None:
    shown = echo.value("a" * 5_000)
    assert shown.startswith("a" * echo.MAX_CHARS) and "5,000 characters" in shown
    listed = echo.value(list(range(101)))
    assert listed[: echo.MAX_ITEMS] == list(range(echo.MAX_ITEMS))
    assert listed[-1] == f"... {101 - echo.MAX_ITEMS:,} more items"
    assert len(orjson.dumps(echo.value(10**5000))) < 200
