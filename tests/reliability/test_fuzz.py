"""Property-based fuzzing of every route in the API's own OpenAPI schema, against a real
`mlstack serve` on loopback, with auth off and on: no 5xx, every response as the schema says,
and the server healthy afterwards. Generation covers valid and schema-violating inputs."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
BEARER = {"Authorization": f"Bearer {TOKEN}"}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
)


def _healthy_after_fuzzing(api: RunningApi) -> Iterator[RunningApi]:
    """The API for this module's fuzzing; after the module: healthy, no 5xx, and the fuzzer
    really reached the routes that take input (not just a handful of cases)."""
    yield api
    api.assert_healthy()
    for route in ("/predict", "/invocations"):
        assert api.requests(route) >= EXAMPLES, route


@pytest.fixture(scope="module")
def open_fuzzed(open_api: RunningApi) -> Iterator[RunningApi]:
    yield from _healthy_after_fuzzing(open_api)


@pytest.fixture(scope="module")
def guarded_fuzzed(guarded_api: RunningApi) -> Iterator[RunningApi]:
    yield from _healthy_after_fuzzing(guarded_api)


@pytest.fixture(scope="module")
def open_schema(open_api: RunningApi) -> schemathesis.BaseSchema:
    return from_url(f"{open_api.url}/openapi.json")


@pytest.fixture(scope="module")
def guarded_schema(guarded_api: RunningApi) -> schemathesis.BaseSchema:
    # The schema is guarded too: read it with the token.
    return from_url(f"{guarded_api.url}/openapi.json", headers=BEARER)


open_routes = schemathesis.pytest.from_fixture("open_schema")
guarded_routes = schemathesis.pytest.from_fixture("guarded_schema")


@open_routes.parametrize()
@FUZZ
def test_without_auth_no_input_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, open_fuzzed: RunningApi
) -> None:
    case.call_and_validate(base_url=open_fuzzed.url, excluded_checks=EXCLUDED, timeout=30)


@guarded_routes.parametrize()
@FUZZ
def test_with_the_token_no_input_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, guarded_fuzzed: RunningApi
) -> None:
    case.call_and_validate(
        base_url=guarded_fuzzed.url, headers=BEARER, excluded_checks=EXCLUDED, timeout=30
    )


@guarded_routes.parametrize()
@FUZZ
def test_with_auth_on_but_no_token_no_input_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, guarded_fuzzed: RunningApi
) -> None:
    case.call_and_validate(base_url=guarded_fuzzed.url, excluded_checks=EXCLUDED, timeout=30)
