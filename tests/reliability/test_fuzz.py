"""Property-based fuzzing of every route in the API's own OpenAPI schema, against a real
`mlstack serve` on loopback, with auth off and on: no 5xx, every response as the schema says,
and the server healthy afterwards. Generation covers valid and schema-violating inputs."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.openapi.loaders import from_url

from tests.api import TOKEN, RunningApi

# Per route and mode: bounded in `make test` (the same cases every run, so a red build is
# reproducible); `make soak` asks for more and lets hypothesis explore new ones each time.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
# Every check schemathesis has but one: "a schema-valid request is accepted". The schema cannot
# say MAX_HORIZON (a setting), MLflow's one-format-per-body rule, or that a level a hair below 1
# makes the interval infinite; those get a documented 4xx that names the field instead.
EXCLUDED = [positive_data_acceptance]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def open_schema(open_api: RunningApi) -> schemathesis.BaseSchema:
    return from_url(f"{open_api.url}/openapi.json")


@pytest.fixture(scope="module")
def guarded_schema(guarded_api: RunningApi) -> schemathesis.BaseSchema:
    return from_url(f"{guarded_api.url}/openapi.json")


open_routes = schemathesis.pytest.from_fixture("open_schema")
guarded_routes = schemathesis.pytest.from_fixture("guarded_schema")


@open_routes.parametrize()
@FUZZ
def test_without_auth_no_input_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, open_api: RunningApi
) -> None:
    case.call_and_validate(base_url=open_api.url, excluded_checks=EXCLUDED, timeout=30)


@guarded_routes.parametrize()
@FUZZ
def test_with_the_token_no_input_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, guarded_api: RunningApi
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    case.call_and_validate(
        base_url=guarded_api.url, headers=headers, excluded_checks=EXCLUDED, timeout=30
    )


@guarded_routes.parametrize()
@FUZZ
def test_with_auth_on_but_no_token_no_input_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, guarded_api: RunningApi
) -> None:
    case.call_and_validate(base_url=guarded_api.url, excluded_checks=EXCLUDED, timeout=30)


@pytest.mark.parametrize("which", ["open_api", "guarded_api"])
def test_the_server_is_healthy_and_answered_no_5xx_after_fuzzing(
    which: str, request: pytest.FixtureRequest
) -> None:
    api: RunningApi = request.getfixturevalue(which)
    api.assert_healthy()
    # The fuzzer really reached the routes that take input (not just a handful of cases).
    for route in ("/predict", "/invocations"):
        assert api.requests(route) >= EXAMPLES, route
