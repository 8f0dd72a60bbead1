"""`GET /history` and `GET /series/{id}/history`: the last points the served version was fitted
on, oldest first, read from its own artifact; what a chart draws before the forecast, which
continues from the last of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from services.forecasting.forecaster import HISTORY_POINTS
from services.serving import echo
from services.serving.deps import ServedDep, known_query
from services.serving.holder import Served
from services.serving.schemas import HistoryResponse, HistoryRow, Problem, ServedModel

router = APIRouter(tags=["forecast"], dependencies=[Depends(known_query)])

Points = Annotated[
    int,
    Query(
        ge=1,
        le=HISTORY_POINTS,
        description=f"How many of the most recent points (a version keeps {HISTORY_POINTS}).",
    ),
]
ERRORS: dict[int | str, dict[str, object]] = {
    404: {
        "model": Problem,
        "description": "An unknown series, none named to a model of several, or a version that "
        "keeps no history (trained before versions kept it)",
    },
    503: {"model": Problem, "description": "No model version loaded yet (see Retry-After)"},
}


@router.get(
    "/history", response_model=HistoryResponse, responses=ERRORS, response_model_exclude_none=True
)
async def history(served: ServedDep, points: Points = HISTORY_POINTS) -> HistoryResponse:
    """The last `points` values the served model of one series was fitted on."""
    count = len(served.model.ids)
    if count > 1:
        raise _not_found(
            f"This model has {count:,} series: ask GET /series/{{id}}/history for one "
            "(GET /series lists them)"
        )
    return _answer(served, None, points)


@router.get(
    "/series/{series_id:path}/history",
    response_model=HistoryResponse,
    responses=ERRORS,
    response_model_exclude_none=True,
)
async def series_history(
    served: ServedDep, series_id: str, points: Points = HISTORY_POINTS
) -> HistoryResponse:
    """The last `points` values the series `series_id` was fitted on; each row carries its id."""
    known = served.model.series
    if series_id not in known:
        if not known:
            raise _not_found("This model does not name its series: ask GET /history")
        raise _not_found(
            f"Unknown series {echo.text(series_id)}: the model has {len(known):,} "
            "(GET /series lists them)"
        )
    return _answer(served, series_id, points)


def _answer(served: Served, series: str | None, points: int) -> HistoryResponse:
    ref = served.ref
    columns = served.model.history(series, points)
    if columns is None:
        raise _not_found(
            f"Version {ref.version} of {ref.name} keeps no history: it was trained before "
            "versions kept the points they were fitted on (or by another tool); train a new one"
        )
    rows = [
        HistoryRow(unique_id=series, ds=ds, y=y)
        for ds, y in zip(columns["ds"], columns["y"], strict=True)
    ]
    model = ServedModel(name=ref.name, version=ref.version, run_id=ref.run_id)
    return HistoryResponse(model=model, history=rows)


def _not_found(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail)
