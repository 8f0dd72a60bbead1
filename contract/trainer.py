"""The trainer (`mlstack train`), the scorer (`mlstack score`) and the trainer's Dask cluster:
their specs, variables and the bundled data.

The trainer's variables are still written by name here (services/trainer/config.py reads them
through aliases); once its settings' fields carry these names they become an `Env`, as the API's.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from contract.service import SCRATCH, ServiceSpec

V = TypeVar("V")  # a value: `str` locally, `pulumi.Input[str]` on Kubernetes
# The series the trainer learns when given no data: in the repository (beside this package, as
# installed too), and in the trainer image.
BUNDLED_DATA = Path(__file__).resolve().parents[1] / "services" / "data" / "airline.csv"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
MODEL_NAME_ENV = "MODEL_NAME"
EXPERIMENT_ENV = "EXPERIMENT_NAME"

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
        TRACKING_URI_ENV: tracking_uri,
        "DATA_URI": data_uri,
        MODEL_NAME_ENV: model_name,
        EXPERIMENT_ENV: experiment,
    }
    if dask_scheduler_address is not None:
        env[DASK_SCHEDULER_ENV] = dask_scheduler_address
    return env


def dask_worker_env(*, scheduler_address: V, memory_limit: str) -> dict[str, V | str]:
    """`dask worker`'s variables: where its scheduler is, and the pod's memory limit (a Kubernetes
    quantity such as `2Gi`, which Dask parses too). Tasks carry their series, so a worker reads
    no data and talks to neither MLflow nor S3."""
    return {DASK_SCHEDULER_ENV: scheduler_address, "MEMORY_LIMIT": memory_limit}
