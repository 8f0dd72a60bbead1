"""What each service runs: command, port, environment and probes, declared once.

The local stack (`mlstack up`) and the Kubernetes objects (`infra/`) are both built from these
specs, so a laptop runs exactly the entrypoints the cluster runs. Arguments may reference
environment variables as `$(NAME)`, which Kubernetes expands natively and `command()` expands
locally, so only the values differ between targets. The `*_env` functions build each service's
environment from typed values (plain strings locally, Pulumi inputs on Kubernetes), so callers
never spell the variable names; each service's settings class reads them on the other side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

# The series the trainer learns when given no data: in the repository, and in the trainer image.
BUNDLED_DATA = Path(__file__).resolve().parent / "data" / "airline.csv"
V = TypeVar("V")  # a value: `str` locally, `pulumi.Input[str]` on Kubernetes
TOKEN_ENV = "API_TOKEN"  # the bearer token; on Kubernetes it comes from a Secret
# The writable scratch volume every pod mounts over its read-only root (infra/pod.py); HOME in
# the images. The API keeps its model cache there, which outlives a container restart in the pod.
SCRATCH = "/tmp"
MODEL_CACHE_DIR = f"{SCRATCH}/mlstack/model-cache"
BACKEND_STORE_ENV = "MLFLOW_BACKEND_STORE_URI"  # on Kubernetes a Secret when it holds a password

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
    needs: tuple[str, ...] = ()  # commands it runs besides its own, e.g. the one it execs

    @property
    def commands(self) -> tuple[str, ...]:
        """Every command the service needs on PATH: its own first."""
        return (self.args[0], *self.needs)

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
# `mlflow server`, once its local store is known writable (services/tracking/).
_TRACKING_ARGS = (
    "mlstack", "tracking",
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
    needs=("mlflow",),  # `mlstack tracking` execs `mlflow server`
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

# `mlstack score`: the served forecasts against the actuals at DATA_URI, written as tags on the
# version (the API exports them). The trainer's image, environment and data; its own name.
SCORER = ServiceSpec(
    name="scorer",
    image="mlstack-trainer",
    extra="train",
    args=("mlstack", "score"),
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
    args=("mlstack", "demo", "--host", "$(DEMO_HOST)"),  # its own host: the default is loopback
    port=8501,
    env=MappingProxyType({"DEMO_HOST": "0.0.0.0", "DEMO_PORT": "8501"}),
    ready_path="/_stcore/health",
    live_path="/_stcore/health",
)

SERVICES = (TRACKING, TRAINER, API, DEMO)

# A Dask cluster for the trainer (`trainer_workers` in the stack config), from the trainer image,
# which installs `distributed`. Its processes speak Dask's protocol, not HTTP, so they declare no
# `http` port; the cluster names their ports (infra/dask_cluster.py). The workers' ports are
# pinned (Dask picks random ones by default) so that NetworkPolicies can name them. The variables
# are not DASK_-prefixed, which Dask would read as its own config, except the scheduler address,
# which is exactly Dask's (and the trainer's, services/trainer/config.py).
DASK_SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
DASK_SCHEDULER_PORT = 8786
DASK_WORKER_PORT = 8788
DASK_NANNY_PORT = 8789

DASK_SCHEDULER = ServiceSpec(
    name="dask-scheduler",
    image="mlstack-trainer",
    extra="train",
    # No dashboard: the image has no bokeh, and nothing here would read it.
    args=("dask", "scheduler", "--port", "$(SCHEDULER_PORT)", "--no-dashboard"),
    env=MappingProxyType({"SCHEDULER_PORT": str(DASK_SCHEDULER_PORT)}),
)

# fmt: off
_DASK_WORKER_ARGS = (
    "dask", "worker", f"$({DASK_SCHEDULER_ENV})",
    # One single-threaded process per worker: the fitting is CPU-bound, one BLAS thread each
    # (services/trainer/fit.py), as in the trainer's own process pool.
    "--nworkers", "1",
    "--nthreads", "1",
    "--worker-port", "$(WORKER_PORT)",
    "--nanny-port", "$(NANNY_PORT)",
    "--local-directory", "$(WORKER_DIRECTORY)",
    # The pod's memory limit: Dask's `auto` takes the smallest cgroup limit it finds, a soft
    # one (the request, under podman) included, times threads / CPUs, so a one-thread worker in a
    # 2-CPU pod would get half the pod or less, and pause or restart long before the limit.
    "--memory-limit", "$(MEMORY_LIMIT)",
    "--no-dashboard",
)
# fmt: on

DASK_WORKER = ServiceSpec(
    name="dask-worker",
    image="mlstack-trainer",
    extra="train",
    args=_DASK_WORKER_ARGS,
    env=MappingProxyType(
        {
            "WORKER_PORT": str(DASK_WORKER_PORT),
            "NANNY_PORT": str(DASK_NANNY_PORT),
            "WORKER_DIRECTORY": f"{SCRATCH}/dask",  # on the scratch volume: the root is read-only
        }
    ),
)


def _set(**values: object) -> dict[str, str]:
    """NAME=value for each value given (None leaves the variable to the spec or the image)."""
    return {name: str(value) for name, value in values.items() if value is not None}


def tracking_env(
    *,
    artifacts_destination: V,
    allowed_hosts: V,
    backend_store_uri: V | None = None,
    host: str | None = None,
    port: int | None = None,
) -> dict[str, V | str]:
    """The MLflow server's variables (its command line reads them, see `_TRACKING_ARGS`)."""
    env: dict[str, V | str] = {
        "MLFLOW_ARTIFACTS_DESTINATION": artifacts_destination,
        "MLFLOW_SERVER_ALLOWED_HOSTS": allowed_hosts,
    }
    if backend_store_uri is not None:
        env[BACKEND_STORE_ENV] = backend_store_uri
    return _set(MLFLOW_HOST=host, MLFLOW_PORT=port) | env


def trainer_env(
    *,
    tracking_uri: V,
    data_uri: V,
    model_name: str,
    experiment: str,
    dask_scheduler_address: V | None = None,
) -> dict[str, V | str]:
    """`mlstack train`'s variables (services/trainer/config.py); with a Dask scheduler's address
    it fits on that cluster instead of its own process pool."""
    env: dict[str, V | str] = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "DATA_URI": data_uri,
        "MODEL_NAME": model_name,
        "EXPERIMENT_NAME": experiment,
    }
    if dask_scheduler_address is not None:
        env[DASK_SCHEDULER_ENV] = dask_scheduler_address
    return env


def dask_worker_env(*, scheduler_address: V, memory_limit: str) -> dict[str, V | str]:
    """`dask worker`'s variables: where its scheduler is, and the pod's memory limit (a Kubernetes
    quantity such as `2Gi`, which Dask parses too). Tasks carry their series, so a worker reads
    no data and talks to neither MLflow nor S3."""
    return {DASK_SCHEDULER_ENV: scheduler_address, "MEMORY_LIMIT": memory_limit}


def api_env(
    *,
    tracking_uri: V,
    model_name: str,
    model_alias: str | None = None,
    host: str | None = None,
    port: int | None = None,
    poll_seconds: float | None = None,
    log_level: str | None = None,
    token: str | None = None,
    model_cache_dir: str = MODEL_CACHE_DIR,
) -> dict[str, V | str]:
    """`mlstack serve`'s variables (services/serving/settings.py); an empty token turns auth off,
    an empty model cache folder the model cache."""
    env: dict[str, V | str] = {"MLFLOW_TRACKING_URI": tracking_uri}
    return env | _set(
        MODEL_CACHE_DIR=model_cache_dir,
        HOST=host,
        PORT=port,
        MODEL_NAME=model_name,
        MODEL_ALIAS=model_alias,
        MODEL_POLL_SECONDS=poll_seconds,
        LOG_LEVEL=log_level,
        **{TOKEN_ENV: token},
    )


def demo_env(
    *,
    api_url: str,
    history: str,
    host: str | None = None,
    port: int | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """`mlstack demo`'s variables (services/demo/)."""
    return _set(
        DEMO_HOST=host, DEMO_PORT=port, API_URL=api_url, DEMO_HISTORY=history, **{TOKEN_ENV: token}
    )
