"""The demo's only way to the serving API: two calls with timeouts, every failure one `ApiError`.

`API_URL` defaults to `http://localhost:8000`, which is also what
`kubectl port-forward svc/<api> 8000:80` gives; `API_TOKEN` is sent as a bearer token when set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.demo.settings import DemoSettings

DEFAULT_URL = "http://localhost:8000"


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


def forecast(api: Api, horizon: int, level: float) -> dict[str, Any]:
    """`POST /predict`: `{"model": {...}, "forecast": [{"ds", "yhat", ...}, ...]}`."""
    return _call(api, "POST", "/predict", json={"horizon": horizon, "level": level})


def _call(api: Api, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    try:
        response = httpx.request(
            method, api.url + path, json=json, headers=headers, timeout=api.timeout
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
