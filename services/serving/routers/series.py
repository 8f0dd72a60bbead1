"""`GET /series`: the ids of the served model's series, sorted, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.serving.deps import ServedDep, known_query
from services.serving.schemas import Problem, SeriesPage

router = APIRouter(tags=["model"], dependencies=[Depends(known_query)])

MAX_PAGE = 10_000  # ids per page: about 100 KB of JSON at M3's id lengths


@router.get("/series", response_model=SeriesPage, responses={503: {"model": Problem}})
async def series(
    served: ServedDep,
    offset: Annotated[int, Query(ge=0, description="How many ids to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Ids per page.")] = 1_000,
) -> SeriesPage:
    """The ids `/predict`'s `series` and `/invocations`' `unique_id` take, sorted; `total` says
    how many there are (none for a model that does not name its series)."""
    ids = served.model.ids
    return SeriesPage(
        total=len(ids), offset=offset, limit=limit, series=list(ids[offset : offset + limit])
    )
