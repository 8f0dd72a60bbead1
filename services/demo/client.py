"""The demo's only way to the serving API: three calls with timeouts, every failure one
`ApiError`.

`API_URL` defaults to `http://localhost:8000`, which is also what
`kubectl port-forward svc/<api> 8000:80` gives; `API_TOKEN` is sent as a bearer token when set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.demo.settings import DemoSettings

DEFAULT_URL = "http://localhost:8000"
SERIES_PAGE = 1_000  # ids per `GET /series` call
MAX_SERIES = 100_000  # the trainer's limit: every series of any model it trains


class ApiError(Exception):
    """A sentence for the page: what went wrong talking to the API and what to try."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Api:
    url: str = DEFAULT_URL
    token: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> Api:
        settings = DemoSettings()
        url = settings.api_url or DEFAULT_URL
        return cls(url=url.rstrip("/"), token=settings.api_token or None)


def get_model(api: Api) -> dict[str, Any]:
    """What the API serves: name, version, run_id, alias, training metrics (`GET /model`)."""
    return _call(api, "GET", "/model")


def series(api: Api, page: int = SERIES_PAGE, most: int = MAX_SERIES) -> list[str]:
    """The served model's series ids, sorted (`GET /series`, a page at a time), at most `most`."""
    found: list[str] = []
    while len(found) < most:
        params = {"offset": len(found), "limit": min(page, most - len(found))}
        ids = _call(api, "GET", "/series", params=params)["series"]
        if not ids:
            break
        found.extend(ids)
    return found


def forecast(api: Api, horizon: int, level: float, series: str | None = None) -> dict[str, Any]:
    """`POST /predict`: `{"model": {...}, "forecast": [{"ds", "yhat", ...}, ...]}`; for one of
    several series when `series` names it (each row then carries its `unique_id`)."""
    body: dict[str, Any] = {"horizon": horizon, "level": level}
    if series is not None:
        body["series"] = series
    return _call(api, "POST", "/predict", json=body)


def _call(
    api: Api,
    method: str,
    path: str,
    json: dict[str, Any] | None = None,
    params: dict[str, int] | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    try:
        response = httpx.request(
            method, api.url + path, json=json, params=params, headers=headers, timeout=api.timeout
        )
    except httpx.TimeoutException:
        raise ApiError(f"The API at {api.url} did not answer within {api.timeout:.0f}s.") from None
    except httpx.HTTPError as exc:
        raise ApiError(
            f"The API at {api.url} is not reachable ({type(exc).__name__}). Is it running? "
            "Locally, `mlstack up` starts it; for a cluster, "
            "`kubectl port-forward svc/<api> 8000:80`."
        ) from None
    if response.status_code != 200:
        raise ApiError(_explain(response), status=response.status_code)
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise ApiError(f"The API at {api.url} answered {path} with something not JSON.") from None
    return body


def _explain(response: httpx.Response) -> str:
    detail = _detail(response)
    if response.status_code == 503:
        return f"The API has no model loaded yet (503: {detail}). Try again in a moment."
    if response.status_code in (401, 403):
        return f"The API refused the request ({response.status_code}: {detail}). Set API_TOKEN."
    return f"The API answered {response.status_code}: {detail}"


def _detail(response: httpx.Response) -> str:
    """FastAPI's `detail`, flattened to one line when it is a validation error list."""
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in detail)
    return str(detail)
