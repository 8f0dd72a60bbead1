"""`POST /predict` in the OpenAPI document: a forecast of `horizon` periods with intervals for the
model's one series or the series named, and the version behind it. The door answers it
(`door.py`); FastAPI reads this declaration for `/openapi.json` and answers other methods."""

from __future__ import annotations

from fastapi import APIRouter

from services.serving.schemas import PredictRequest, PredictResponse, Problem

router = APIRouter(tags=["forecast"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "API_TOKEN is set and the bearer token is wrong"},
    408: {"description": "Head and body not received within REQUEST_READ_SECONDS (closed)"},
    413: {"model": Problem, "description": "Body over MAX_BODY_BYTES (chunked or not)"},
    415: {"model": Problem, "description": "Content type other than application/json"},
    503: {"model": Problem, "description": "No model version loaded yet (see Retry-After)"},
}


@router.post("/predict", response_model=PredictResponse, responses=ERRORS)
async def predict(request: PredictRequest) -> PredictResponse:
    """Forecast the next `horizon` periods of the model's series, or of each series named in
    `series` (rows in request order, each with its `unique_id`); identical requests are answered
    from a cache."""
    raise NotImplementedError("POST /predict is answered by services/serving/door.py")
