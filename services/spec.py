"""What each service runs: command, port, environment and probes, declared once.

The local stack (`mlstack up`) and the Kubernetes objects (`infra/`) are both built from these
specs, so a laptop runs exactly the entrypoints the cluster runs. Arguments may reference
environment variables as `$(NAME)`, which Kubernetes expands natively and `command()` expands
locally, so only the values differ between targets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    extra: str  # the pyproject extra the image installs
    args: tuple[str, ...]
    port: int | None = None  # container port, named "http"
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ready_path: str | None = None
    live_path: str | None = None

    def command(self, env: Mapping[str, str]) -> list[str]:
        """The argv with `$(NAME)` expanded from `env` over the spec's defaults."""
        values = {**self.env, **env}

        def expand(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"{self.name}: argument needs ${name}, which is not set")
            return values[name]

        return [_VAR.sub(expand, arg) for arg in self.args]


# fmt: off
_TRACKING_ARGS = (
    "mlflow", "server",
    "--host", "$(MLFLOW_HOST)",
    "--port", "$(MLFLOW_PORT)",
    "--backend-store-uri", "$(MLFLOW_BACKEND_STORE_URI)",
    # The artifact proxy: clients read and write artifacts through the server, so only
    # the server needs storage credentials (IRSA on EKS).
    "--serve-artifacts",
    "--artifacts-destination", "$(MLFLOW_ARTIFACTS_DESTINATION)",
    "--allowed-hosts", "$(MLFLOW_SERVER_ALLOWED_HOSTS)",
    "--workers", "1",
)
# fmt: on

TRACKING = ServiceSpec(
    name="mlflow",
    image="mlstack-mlflow",
    extra="mlflow",
    args=_TRACKING_ARGS,
    port=5000,
    env=MappingProxyType(
        {
            "MLFLOW_HOST": "0.0.0.0",
            "MLFLOW_PORT": "5000",
            # The server's job runner (GenAI evaluation jobs) starts a dozen worker processes we
            # never use: off, it saves ~1 GB and most of the start-up time.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    ),
    ready_path="/health",
    live_path="/health",
)

TRAINER = ServiceSpec(
    name="trainer",
    image="mlstack-trainer",
    extra="train",
    args=("mlstack", "train"),
)

API = ServiceSpec(
    name="api",
    image="mlstack-serving",
    extra="serve",
    args=("mlstack", "serve"),
    port=8000,
    env=MappingProxyType({"HOST": "0.0.0.0", "PORT": "8000"}),
    ready_path="/readyz",
    live_path="/healthz",
)

DEMO = ServiceSpec(
    name="demo",
    image="mlstack-demo",
    extra="demo",
    args=("mlstack", "demo"),
    port=8501,
    env=MappingProxyType({"DEMO_HOST": "0.0.0.0", "DEMO_PORT": "8501"}),
    ready_path="/_stcore/health",
    live_path="/_stcore/health",
)

SERVICES = (TRACKING, TRAINER, API, DEMO)
