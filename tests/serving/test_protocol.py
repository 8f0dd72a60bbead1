"""MLflow's own scoring (`protocol.py`, the `/invocations` fallback for CSV and `params`): its
errors keep MLflow's shape, without what a client must never see (issue 36, item 5)."""

from __future__ import annotations

from typing import Any

import orjson

from services.serving import protocol
from services.serving.models import ForeignPyfunc
from services.serving.rules import Limits


class Metadata:
    def get_input_schema(self) -> None:
        return None


class Failing:
    """A pyfunc whose predict raises what MLflow's scorer does not anticipate."""

    metadata = Metadata()

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        raise RuntimeError("internal detail: /srv/secret/path")


def test_a_model_that_raises_gets_a_400_without_a_stack_trace() -> None:
    model = ForeignPyfunc(Failing())
    scored = protocol.score(b"n_periods\n3\n", "text/csv", model, Limits(10, 3, 30))
    assert scored.status == 400
    answer = orjson.loads(scored.body)
    assert answer["error_code"] == "BAD_REQUEST" and "stack_trace" not in answer
    assert "Traceback" not in scored.body.decode()
    assert "/srv/secret/path" not in scored.body.decode()
