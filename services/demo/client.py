"""The demo's only way to the serving API: a few calls with timeouts, every failure one
`ApiError` whose message is one plain sentence.

`API_URL` defaults to `http://localhost:8000`, which is also what
`kubectl port-forward svc/<api> 8000:80` gives; `API_TOKEN` is sent as a bearer token when set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from services.demo.settings import DemoSettings

DEFAULT_URL = "http://localhost:8000"
SERIES_PAGE = 1_000  # ids per `GET /series` call
MAX_SERIES = 100_000  # the trainer's limit: every series of any model it trains


class ApiError(Exception):
    """A sentence for the page: what went wrong talking to the API and what to try."""

    def __init__(
        self, message: str, status: int | None = None, horizon_max: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.horizon_max = horizon_max  # the API's own limit, when it refused a longer horizon

    @property
    def retryable(self) -> bool:
        """Whether asking again unchanged may succeed: no answer, too many requests, or the API
        failing; never for a refusal (4xx) of what was asked."""
        return self.status is None or self.status == 429 or self.status >= 500


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


def horizon_limit(api: Api) -> int | None:
    """The longest horizon `/predict` takes, when the API's OpenAPI schema states it as the
    horizon's `maximum`; None when it does not (or cannot be read)."""
    try:
        schema = _call(api, "GET", "/openapi.json")
        horizon = schema["components"]["schemas"]["PredictRequest"]["properties"]["horizon"]
    except (ApiError, KeyError, TypeError):
        return None
    maximum = horizon.get("maximum")
    return int(maximum) if isinstance(maximum, int | float) else None


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


def history(api: Api, series: str | None = None) -> dict[str, Any]:
    """The last points the served version was fitted on, oldest first (`GET /history`, or
    `GET /series/{id}/history` for one of several series): `{"model": {...}, "history":
    [{"ds", "y"}, ...]}`, as many as the version keeps."""
    path = "/history" if series is None else f"/series/{quote(series, safe='')}/history"
    return _call(api, "GET", path)


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
        raise _refusal(response)
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise ApiError(f"The API at {api.url} answered {path} with something not JSON.") from None
    return body


def _refusal(response: httpx.Response) -> ApiError:
    """One plain sentence for an answer other than 200, and what to do about it."""
    code, detail = response.status_code, _detail(response)
    if code == 503:
        message = f"The API has no model loaded yet (503: {detail}). Try again in a moment."
    elif code in (401, 403):
        message = f"The API refused the request ({code}: {detail}). Set API_TOKEN to its token."
    elif code == 429:
        wait = response.headers.get("retry-after", "a few")
        message = f"The API is answering too many requests from here: wait {wait} s, then retry."
    elif code == 422 and isinstance(errors := _errors(response), list) and errors:
        return _invalid(errors[0])
    elif code < 500:
        message = f"The API refused the request ({code}): {detail}."
    else:
        message = f"The API failed ({code}: {detail}). Try again in a moment."
    return ApiError(message, status=code)


def _invalid(error: dict[str, Any]) -> ApiError:
    """A 422's first error as a sentence naming the field and what it takes."""
    field = str((error.get("loc") or ["request"])[-1])
    limits = error.get("ctx") or {}
    if field == "horizon" and "le" in limits:
        most = int(limits["le"])
        message = f"The API forecasts at most {most:,} periods ahead: ask for {most:,} or fewer."
        return ApiError(message, status=422, horizon_max=most)
    if field == "horizon":
        message = "The horizon must be a whole number of periods, at least 1."
    elif field == "level":
        message = "The interval level must lie strictly between 0 and 1."
    else:
        message = f"The API refused the {field}: {error.get('msg', 'invalid')}."
    return ApiError(message, status=422)


def _errors(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail")
    except (ValueError, AttributeError):
        return None


def _detail(response: httpx.Response) -> str:
    """FastAPI's `detail` as one line."""
    detail = _errors(response)
    if detail is None:
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in detail)
    return str(detail)
