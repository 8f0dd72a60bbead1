"""The few MLflow REST calls the API makes, with the standard library: registry reads as JSON and
downloads through the artifact proxy. MLflow's own client would import all of MLflow (half the
API's memory and start-up time) and retry each call for minutes during an outage; these calls
have a timeout and no retries (the follower backs off itself). Credentials and TLS settings are
MLflow's client environment variables.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger("mlstack.serving")
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class RestError(RuntimeError):
    """The registry answered with an error (MLflow's `error_code` and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class MlflowRest:
    """GET calls to the tracking server at `uri`."""

    def __init__(self, uri: str, timeout: float) -> None:
        self.uri = uri.rstrip("/")
        self.timeout = timeout

    def get(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        """The JSON answer; `RestError` when the server answers an error."""
        with self._open(endpoint, params) as response:
            body: dict[str, Any] = json.load(response)
            return body

    def _open(self, endpoint: str, params: dict[str, str] | None = None) -> Any:
        url = self.uri + endpoint
        if params:
            url += "?" + urllib.parse.urlencode(params)
        log.debug("GET %s", url)  # never the headers: they may carry credentials
        request = urllib.request.Request(url, headers=auth_headers())
        context = _tls_context() if url.startswith("https://") else None
        try:
            return urllib.request.urlopen(request, timeout=self.timeout, context=context)
        except urllib.error.HTTPError as exc:
            raise _rest_error(exc) from exc

    def download(self, root: str, folder: Path, relative: str = "") -> None:
        """Every file under `root/relative` in the artifact proxy, into `folder/relative`."""
        path = f"{root}/{relative}".rstrip("/")
        listing = self.get(ARTIFACTS, {"path": path}).get("files", [])
        for entry in listing:
            child = f"{relative}/{entry['path'].rsplit('/', 1)[-1]}".lstrip("/")
            if entry.get("is_dir"):
                self.download(root, folder, child)
                continue
            target = folder / child
            target.parent.mkdir(parents=True, exist_ok=True)
            quoted = urllib.parse.quote(f"{root}/{child}")
            with self._open(f"{ARTIFACTS}/{quoted}") as response, target.open("wb") as out:
                shutil.copyfileobj(response, out)


def _rest_error(exc: urllib.error.HTTPError) -> RestError:
    """MLflow's JSON error body as a `RestError` (or the HTTP status when there is none)."""
    try:
        body = json.loads(exc.read())
        return RestError(str(body["error_code"]), str(body.get("message", "")))
    except (ValueError, KeyError, TypeError):
        return RestError(f"HTTP {exc.code}", str(exc.reason))


def auth_headers() -> dict[str, str]:
    """MLflow's client credentials from its environment variables (token, or user and password)."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (os.environ.get(f"MLFLOW_TRACKING_{k}") for k in ("USERNAME", "PASSWORD"))
    if user and password:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


@cache
def _tls_context() -> ssl.SSLContext:
    """TLS as MLflow's client variables say: a CA bundle, a client certificate, or no checks
    (built once: loading the CA bundle on every registry poll is wasted work)."""
    env = os.environ.get
    context = ssl.create_default_context(cafile=env("MLFLOW_TRACKING_SERVER_CERT_PATH"))
    if env("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
        context.load_cert_chain(env("MLFLOW_TRACKING_CLIENT_CERT_PATH", ""))
    if env("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
