"""`POST /predict`: a forecast of `horizon` periods with intervals for the model's one series or
the series named, and the version behind it."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from services.serving import answers
from services.serving.deps import HolderDep, ServedDep, SettingsDep
from services.serving.schemas import PredictRequest, PredictResponse, Problem, series_error

router = APIRouter(tags=["forecast"])

ERRORS: dict[int | str, dict[str, object]] = {
    # FastAPI's own answer when the body cannot be decoded at all (not UTF-8), before validation.
    400: {"model": Problem, "description": "Body is not UTF-8 text, so it cannot be JSON"},
    401: {"model": Problem, "description": "API_TOKEN is set and the bearer token is wrong"},
    413: {"model": Problem, "description": "Body over MAX_BODY_BYTES (chunked or not)"},
    503: {"model": Problem, "description": "No model version loaded yet (see Retry-After)"},
}


@router.post("/predict", response_model=PredictResponse, responses=ERRORS)
async def predict(
    request: PredictRequest, served: ServedDep, settings: SettingsDep, holder: HolderDep
) -> Response:
    """Forecast the next `horizon` periods of the model's series, or of each series named in
    `series` (rows in request order, each with its `unique_id`); identical requests are answered
    from a cache."""
    problem = request.over_limit(settings.max_horizon, settings.max_series_per_request)
    problem = problem or series_error(request.asked, served.series)
    if problem is not None:
        raise RequestValidationError([problem])
    body = await answers.predict(holder, served, request.horizon, request.level, request.asked)
    if body is None:  # e.g. level 0.9999999999999999: the bounds overflow to infinity
        raise RequestValidationError([_unbounded(request)])
    return Response(body, media_type="application/json")


def _unbounded(request: PredictRequest) -> dict[str, object]:
    """The 422 error for a forecast with NaN or infinite values: /predict answers strict JSON."""
    field = "level" if request.level is not None else "horizon"
    return {
        "type": "value_error",
        "loc": ("body", field),
        "msg": f"The forecast at this {field} is not finite (an interval bound overflows); "
        "ask for a lower level or a shorter horizon",
        "input": getattr(request, field),
    }
