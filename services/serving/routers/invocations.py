"""`POST /invocations` in the OpenAPI document: MLflow's scoring protocol, so MLflow clients work
unchanged. The door answers it (`door.py`); FastAPI reads this declaration for `/openapi.json`
and answers other methods."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.serving.parse import CSV, JSON
from services.serving.schemas import InvocationsResponse, MlflowError, Problem

router = APIRouter(tags=["mlflow"])

_ROWS = {"type": "array", "items": {"type": "object"}}
_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": {
                "type": "object",
                "description": "Exactly one of dataframe_split, dataframe_records, inputs or "
                'instances (optional params), e.g. {"inputs": {"n_periods": [12]}}; a model of '
                'several series takes a unique_id column, e.g. {"inputs": {"unique_id": ["a"], '
                '"n_periods": [12]}}.',
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "properties": {"columns": {"type": "array"}, "data": {"type": "array"}},
                    },
                    "dataframe_records": _ROWS,
                    "inputs": {"type": ["object", "array"]},
                    "instances": {"type": ["object", "array"]},
                    "params": {"type": "object"},
                },
            }
        },
        CSV: {"schema": {"type": "string"}},
    },
}
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": MlflowError, "description": "Bad payload; the message names what is wrong"},
    401: {"model": Problem, "description": "API_TOKEN is set and the bearer token is wrong"},
    408: {"description": "Head and body not received within REQUEST_READ_SECONDS (closed)"},
    413: {"model": Problem, "description": "Body over MAX_BODY_BYTES (chunked or not)"},
    415: {"model": MlflowError, "description": "Content type other than JSON or CSV (utf-8)"},
    422: {
        "model": MlflowError,
        "description": "More rows than MAX_SERIES_PER_REQUEST, or more forecast rows in all "
        "than MAX_POINTS_PER_REQUEST",
    },
    503: {"model": Problem, "description": "No model version loaded yet (see Retry-After)"},
}


@router.post(
    "/invocations",
    response_model=InvocationsResponse,
    responses=ERRORS,
    openapi_extra={"requestBody": _BODY},
)
async def invocations() -> Response:
    """Score a payload the way `mlflow models serve` does: `{"predictions": [records...]}`."""
    raise NotImplementedError("POST /invocations is answered by services/serving/door.py")
