"""The test tiers: `make test-fast` leaves out what is marked `slow` or `mlflow`, and `mlflow` is
derived from the fixtures a test uses (tests/conftest.py), so a new test lands in its tier."""

from __future__ import annotations

import pytest


def test_a_test_that_reaches_the_mlflow_server_is_marked_mlflow(
    mlflow_server: object, request: pytest.FixtureRequest
) -> None:
    assert request.node.get_closest_marker("mlflow") is not None


def test_a_test_that_does_not_is_left_unmarked(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("mlflow") is None
