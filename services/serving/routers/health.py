"""Liveness, readiness, and MLflow's `/ping` and `/health` for clients that wait on them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.serving.deps import HolderDep, SettingsDep
from services.serving.schemas import Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, response_model_exclude_none=True)
async def healthz() -> Status:
    """The process is up and answering (it may not have a model yet)."""
    return Status(status="ok")


@router.get(
    "/readyz", response_model=Status, responses={503: {"model": Status, "description": "No model"}}
)
async def readyz(holder: HolderDep, settings: SettingsDep) -> JSONResponse:
    """200 only while a model version is loaded and served."""
    served = holder.current
    if served is None:
        headers = {"Retry-After": str(settings.retry_after_seconds)}
        return JSONResponse({"status": "no model loaded"}, status_code=503, headers=headers)
    return JSONResponse({"status": "ready", "version": served.ref.version})


# Some health checkers send HEAD: the same answer without its body (the server drops it).
router.add_api_route(
    "/healthz",
    healthz,
    methods=["HEAD"],
    response_model=Status,
    response_model_exclude_none=True,
    include_in_schema=False,
)
router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)
# `mlflow models serve` answers these; MLflow's client waits on /ping before scoring.
router.add_api_route("/ping", readyz, methods=["GET", "HEAD"], include_in_schema=False)
router.add_api_route("/health", readyz, methods=["GET", "HEAD"], include_in_schema=False)
