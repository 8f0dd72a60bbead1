"""`POST /invocations`: MLflow's scoring protocol, so MLflow clients work unchanged."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from services.serving import answers
from services.serving.deps import HolderDep, ServedDep, SettingsDep
from services.serving.protocol import JSON, fast_rows, score, served_rows
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
        "text/csv": {"schema": {"type": "string"}},
    },
}
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": MlflowError, "description": "Bad payload; the message names what is wrong"},
    401: {"model": Problem, "description": "API_TOKEN is set and the bearer token is wrong"},
    413: {"model": Problem, "description": "Body over MAX_BODY_BYTES (chunked or not)"},
    415: {"description": "Content type other than application/json or text/csv"},
    503: {"model": Problem, "description": "No model version loaded yet (see Retry-After)"},
}


@router.post(
    "/invocations",
    response_model=InvocationsResponse,
    responses=ERRORS,
    openapi_extra={"requestBody": _BODY},
)
async def invocations(
    request: Request, served: ServedDep, settings: SettingsDep, holder: HolderDep
) -> Response:
    """Score a payload the way `mlflow models serve` does: `{"predictions": [records...]}`."""
    body = await request.body()
    content_type = request.headers.get("content-type")
    rows = fast_rows(body, content_type, settings.max_horizon)
    if rows is None or not served_rows(rows, served.series):
        # anything unusual, or a series the model lacks: MLflow's own parsing, errors and all,
        # off the loop
        limit = settings.max_horizon
        answer = await asyncio.to_thread(score, body, content_type, served.model, limit)
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type)
    return Response(await answers.invocations(holder, served, rows), media_type=JSON)
