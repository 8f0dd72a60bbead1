"""What the stack serves now, for `mlstack status`: asked of the API (`GET /model`), or of the
registry when the API does not answer; never the start-up record in the state file, which
goes stale as soon as `@prod` moves."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from contract.api import PROD_ALIAS
from services.registry import Connection


def served_model(
    api_url: str | None,
    tracking_url: str | None,
    model_name: str | None,
    reader: Connection | None = None,
) -> str:
    """`<name>@prod = version N`, and who said so; the registry is asked with `reader`'s
    credentials."""
    model = _get_json(f"{api_url}/model") if api_url else None
    if model is not None:
        return f"{model['name']}@{model['alias']} = version {model['version']} (served by the API)"
    version = (
        prod_version(tracking_url, model_name, reader) if tracking_url and model_name else None
    )
    if version is not None:
        return (
            f"{model_name}@{PROD_ALIAS} = version {version} "
            "(from the registry; the API does not answer)"
        )
    return "unknown: neither the API nor the registry answers"


def prod_version(
    tracking_url: str, model_name: str, reader: Connection | None = None
) -> str | None:
    """The version behind `<model_name>@prod`, from MLflow's REST API (no MLflow import, so
    `mlstack status` answers at once); None when MLflow or the alias is not there."""
    query = urllib.parse.urlencode({"name": model_name, "alias": PROD_ALIAS})
    url = f"{tracking_url}/api/2.0/mlflow/registered-models/alias?{query}"
    found = _get_json(url, (reader or Connection()).headers())
    return None if found is None else str(found["model_version"]["version"])


def _get_json(url: str, headers: dict[str, str] | None = None, timeout: float = 3.0) -> Any:
    """The JSON body of a 200 answer; None for any other answer or none."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
