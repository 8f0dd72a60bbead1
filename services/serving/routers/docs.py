"""`/docs` with Swagger UI's assets served by the API itself (from the swagger-ui-py wheel), not
from a CDN, so the page works offline and in air-gapped clusters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
router = APIRouter(include_in_schema=False)


def _assets() -> Path:
    spec = importlib.util.find_spec("swagger_ui")  # located, not imported: nothing to pay at start
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@router.get("/docs")
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="mlflow-serving-stack forecasts",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
    )


def mount(app: FastAPI) -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=_assets()), name="docs-assets")
    app.include_router(router)
