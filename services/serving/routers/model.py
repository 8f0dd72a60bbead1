"""`GET /model`: what is being served, from where, and how well it scored in training."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from services.serving.deps import HolderDep, ServedDep
from services.serving.schemas import ModelInfo, Problem

router = APIRouter(tags=["model"])


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


@router.get("/model", response_model=ModelInfo, responses={503: {"model": Problem}})
async def model(served: ServedDep, holder: HolderDep) -> ModelInfo:
    """The served version: name, version, run, alias, when it was loaded and trained, metrics,
    how many series it forecasts, and whether it came from the registry or the model cache."""
    ref = served.ref
    return ModelInfo(
        name=ref.name,
        version=ref.version,
        run_id=ref.run_id,
        alias=ref.alias,
        loaded_at=_iso(served.loaded_at) or "",
        load_seconds=round(served.load_seconds, 3),
        trained_at=_iso(ref.trained_at),
        metrics=ref.metrics,
        tags=ref.tags,
        series=len(served.model.ids) or None,
        source=served.source,
        registry="reachable" if holder.registry_reachable else "unreachable",
    )
