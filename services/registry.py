"""The model registry as the API, the trainer and `mlstack up` read it: one interface, one rule
for "the alias is not set yet", and MLflow's client variables read once, through `Connection`.

On an HTTP tracking URI the reads are a few REST calls with the standard library: MLflow's own
client would import all of MLflow (half the API's memory and start-up time) and retry each call
for minutes during an outage; these calls have a timeout and no retries (callers back off
themselves). Other URIs (a local SQLite store) go through MLflow's client, behind the same
interface, chosen once in `connect`.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("mlstack.registry")
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class RegistryError(RuntimeError):
    """The registry could not be read (unreachable, timed out, or answered an error)."""


class Connection(BaseSettings):
    """MLflow's client variables (`MLFLOW_TRACKING_*`): where the server is, and how to reach it."""

    model_config = SettingsConfigDict(env_prefix="MLFLOW_TRACKING_", extra="ignore")

    uri: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    server_cert_path: str | None = None
    client_cert_path: str | None = None
    insecure_tls: bool = False

    def headers(self) -> dict[str, str]:
        """The credentials: a bearer token, or a user and password (both needed)."""
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username and self.password:
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {}

    def tls(self) -> ssl.SSLContext:
        """TLS as the variables say: a CA bundle, a client certificate, or no checks."""
        context = ssl.create_default_context(cafile=self.server_cert_path)
        if self.client_cert_path:
            context.load_cert_chain(self.client_cert_path)
        if self.insecure_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True)
class Version:
    """One registered model version, as the alias points at it. The registry's reads fill the
    first five fields; the API adds its run's metrics and end time (`/model`, the gauges)."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)
    alias: str = ""  # the alias it was read through; empty when read by number
    metrics: dict[str, float] = field(default_factory=dict)
    trained_at: float | None = None  # the training run's end (or start) time, epoch seconds


def unset(code: str, message: str) -> bool:
    """Whether an error means "no such model or alias yet" (the registry answered; no outage).
    An unknown model is RESOURCE_DOES_NOT_EXIST; a known model without the alias is
    INVALID_PARAMETER_VALUE "Registered model alias prod not found" (MLflow 3.17)."""
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in message
    )


class Registry(Protocol):
    def version(self, name: str, alias: str) -> Version | None:
        """The version `alias` points at; None while it is unset; RegistryError when unreadable."""
        ...

    def run(self, run_id: str) -> dict[str, Any]:
        """The run as MLflow's REST API describes it (`info`, `data`)."""
        ...

    def download(self, name: str, version: str, folder: Path, files: Sequence[str] = ()) -> Path:
        """The version's model files, downloaded into `folder` (only `files`, paths in the model
        folder, when given); the model's folder."""
        ...


def connect(uri: str | None = None, timeout: float = 10.0) -> Registry:
    """The registry at `uri` (else MLFLOW_TRACKING_URI, else MLflow's default)."""
    connection = Connection()
    found = uri or connection.uri
    if found and found.startswith(("http://", "https://")):
        return RestRegistry(found, timeout, connection)
    from mlflow import MlflowClient

    return ClientRegistry(MlflowClient(found) if found else MlflowClient())


class _RestError(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class RestRegistry:
    """GET calls to the tracking server at `uri`, downloads through its artifact proxy."""

    def __init__(self, uri: str, timeout: float, connection: Connection | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.timeout = timeout
        self.connection = connection or Connection()

    def version(self, name: str, alias: str) -> Version | None:
        params = {"name": name, "alias": alias}
        try:
            found = self._get("/api/2.0/mlflow/registered-models/alias", params)["model_version"]
        except _RestError as exc:
            if unset(exc.code, exc.message):
                return None
            raise RegistryError(f"reading {name}@{alias}: {exc.message}") from exc
        except Exception as exc:  # connection refused, timeouts, bad gateways
            raise RegistryError(f"reading {name}@{alias}: {exc}") from exc
        tags = {t["key"]: t.get("value", "") for t in found.get("tags", [])}
        return Version(name, str(found["version"]), found.get("run_id") or "", tags, alias)

    def run(self, run_id: str) -> dict[str, Any]:
        try:
            return dict(self._get("/api/2.0/mlflow/runs/get", {"run_id": run_id})["run"])
        except Exception as exc:
            raise RegistryError(f"reading run {run_id}: {exc}") from exc

    def download(self, name: str, version: str, folder: Path, files: Sequence[str] = ()) -> Path:
        params = {"name": name, "version": version}
        source = self._get("/api/2.0/mlflow/model-versions/get-download-uri", params)
        uri = str(source["artifact_uri"])
        if not uri.startswith("mlflow-artifacts:"):  # a store the proxy does not serve
            return _mlflow_download(uri, folder, self.uri, files)
        root = urllib.parse.urlparse(uri).path.strip("/")
        for file in files:
            self._fetch(root, folder, file)
        if not files:
            self._download(root, folder)
        return folder

    def _get(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        with self._open(endpoint, params) as response:
            body: dict[str, Any] = json.load(response)
            return body

    def _open(self, endpoint: str, params: dict[str, str] | None = None) -> Any:
        url = self.uri + endpoint
        if params:
            url += "?" + urllib.parse.urlencode(params)
        log.debug("GET %s", url)  # never the headers: they may carry credentials
        request = urllib.request.Request(url, headers=self.connection.headers())
        context = self._tls if url.startswith("https://") else None
        try:
            return urllib.request.urlopen(request, timeout=self.timeout, context=context)
        except urllib.error.HTTPError as exc:
            raise _rest_error(exc) from exc

    @cached_property
    def _tls(self) -> ssl.SSLContext:
        return self.connection.tls()  # built once: loading the CA bundle per poll is waste

    def _download(self, root: str, folder: Path, relative: str = "") -> None:
        """Every file under `root/relative` in the artifact proxy, into `folder/relative`."""
        path = f"{root}/{relative}".rstrip("/")
        listing = self._get(ARTIFACTS, {"path": path}).get("files", [])
        for entry in listing:
            child = f"{relative}/{entry['path'].rsplit('/', 1)[-1]}".lstrip("/")
            if entry.get("is_dir"):
                self._download(root, folder, child)
            else:
                self._fetch(root, folder, child)

    def _fetch(self, root: str, folder: Path, file: str) -> None:
        """One file, `root/file` in the artifact proxy, into `folder/file`."""
        target = folder / file
        target.parent.mkdir(parents=True, exist_ok=True)
        quoted = urllib.parse.quote(f"{root}/{file}")
        with self._open(f"{ARTIFACTS}/{quoted}") as response, target.open("wb") as out:
            shutil.copyfileobj(response, out)


def _rest_error(exc: urllib.error.HTTPError) -> _RestError:
    """MLflow's JSON error body (or the HTTP status when there is none)."""
    try:
        body = json.loads(exc.read())
        return _RestError(str(body["error_code"]), str(body.get("message", "")))
    except (ValueError, KeyError, TypeError):
        return _RestError(f"HTTP {exc.code}", str(exc.reason))


class ClientRegistry:
    """The same reads through MLflow's client (a SQLite store, or a trainer's own client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def version(self, name: str, alias: str) -> Version | None:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if unset(str(exc.error_code), str(exc.message)) or self._hidden(name, exc):
                return None
            raise RegistryError(f"reading {name}@{alias}: {exc.message}") from exc
        except Exception as exc:
            raise RegistryError(f"reading {name}@{alias}: {exc}") from exc
        tags = dict(found.tags or {})
        return Version(name, str(found.version), found.run_id or "", tags, alias)

    def _hidden(self, name: str, exc: Any) -> bool:
        """Behind MLflow's auth app a model that does not exist yet is 403, not 404: denied, and
        no model of that name is visible to this identity (so none it could read is served)."""
        if exc.error_code != "PERMISSION_DENIED":
            return False
        escaped = name.replace("'", "\\'")
        return not self.client.search_registered_models(filter_string=f"name = '{escaped}'")

    def run(self, run_id: str) -> dict[str, Any]:
        try:
            return dict(self.client.get_run(run_id).to_dictionary())
        except Exception as exc:
            raise RegistryError(f"reading run {run_id}: {exc}") from exc

    def download(self, name: str, version: str, folder: Path, files: Sequence[str] = ()) -> Path:
        source = str(self.client.get_model_version_download_uri(name, version))
        return _mlflow_download(source, folder, self.client.tracking_uri, files)


def _mlflow_download(
    source: str, folder: Path, tracking_uri: str, files: Sequence[str] = ()
) -> Path:
    # An explicit artifact URI, never `models:/`: those resolve through the process-global
    # registry URI (MLflow 3.17), whatever tracking URI is passed.
    import mlflow.artifacts

    for file in files:
        target = (folder / file).parent
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"{source.rstrip('/')}/{file}",
            dst_path=str(target),
            tracking_uri=tracking_uri,
        )
    if files:
        return folder
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(folder), tracking_uri=tracking_uri
    )
    return Path(local)
