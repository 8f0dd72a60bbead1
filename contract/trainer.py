"""The trainer (`mlstack train`), the scorer (`mlstack score`) and the trainer's Dask cluster:
their specs, the trainer's environment as one typed value (`TrainEnv`), and the bundled data.

`TrainEnv`'s fields are the trainer's settings: `services/trainer/config.py` reads them from the
environment (`TrainConfig` builds on it and adds the checks that need the application), and the
Kubernetes Job (infra/trainer.py) and the local stack write them, each variable named after its
field.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, TypeVar

from pydantic import Field, field_validator

from contract.env import Env
from contract.service import SCRATCH, ServiceSpec

V = TypeVar("V")  # a value: `str` locally, `pulumi.Input[str]` on Kubernetes
# What moves the alias: the backtest at training (today's), the realised evidence of
# `mlstack score` (shadow scoring), or both (a challenger must have won its backtest too).
Promotion = Literal["backtest", "realised", "both"]
RealisedPoints = Annotated[int, Field(ge=1)]
Significance = Annotated[float, Field(gt=0, lt=1)]
# The series the trainer learns when given no data: in the repository (beside this package, as
# installed too), and in the trainer image.
BUNDLED_DATA = Path(__file__).resolve().parents[1] / "services" / "data" / "airline.csv"


class TrainEnv(Env):
    """Everything `mlstack train` and `mlstack score` read from their environment."""

    mlflow_tracking_uri: str | None = None
    data_uri: str = str(BUNDLED_DATA)
    model_name: str = Field("ForecastModel", min_length=1)
    experiment_name: str = Field("forecasting", min_length=1)
    model_alias: str = Field("prod", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    horizon: int | None = Field(None, ge=1, le=10_000)
    promote: bool = True
    families: tuple[str, ...] | None = Field(
        None, description="the mean of these model families instead of the default model"
    )
    id_column: str = Field(
        "unique_id",
        min_length=1,
        description="the series column of a long CSV of many series; without it, one series",
    )
    series_id: str = Field(
        "y", min_length=1, description="the id of the one series of a CSV without the series column"
    )
    ds_column: str = "ds"
    y_column: str = "y"
    freq: str | None = None
    season_length: int | None = Field(None, ge=1, le=1000)
    max_train_points: int = Field(
        2000,
        ge=50,
        description=(
            "fit on at most this many of the most recent points (bounds time and memory), or on "
            "as many as a long horizon's three backtest folds need"
        ),
    )
    global_path: int = Field(
        365,
        ge=1,
        le=10_000,
        description=(
            "the steps of the global model's forecast kept in the model (the API's longest "
            "horizon by default); further ahead the statistical members forecast alone"
        ),
    )
    train_workers: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="processes that fit series in parallel (default: every core)",
    )
    # Exactly Dask's own variable for its scheduler, which the workers read too.
    dask_scheduler_address: str | None = Field(
        None, description="fit the series on this Dask cluster instead of a local process pool"
    )
    max_regressed: float = Field(
        0.10,
        ge=0,
        le=1,
        description="promotion: the largest share of compared series allowed to regress",
    )
    regression_tolerance: float = Field(
        0.10,
        ge=0,
        description="promotion: a series regresses when its SMAPE is worse by more than this share",
    )
    replace_served: bool = Field(
        False,
        description="promotion: let a challenger replace what is served past the guards on what "
        "the data is (stale, another frequency, other series) or when nothing is comparable",
    )
    promotion: Promotion = Field(
        "backtest",
        description="what moves the alias: the backtest at training (backtest), the realised "
        "evidence `mlstack score` gathers (realised, with rollback), or both",
    )
    min_realised_points: RealisedPoints = Field(
        12,
        description="promotion on evidence: the shared points a challenger needs before its "
        "paired test counts (realised, both)",
    )
    promotion_significance: Significance = Field(
        0.05,
        description="promotion on evidence: the one-sided p-value below which a version is "
        "better than the served one (realised, both; rollback too)",
    )
    score_min_points: int = Field(
        1, ge=1, description="score a series only once it has this many new points (else they wait)"
    )
    promote_if_degraded: bool = Field(
        False,
        description="promotion: a challenger that ties the champion wins when the champion's "
        "realised SMAPE is above its backtest's by the degradation ratio",
    )
    degradation_ratio: float = Field(
        1.5,
        gt=1,
        description="realised SMAPE over backtest SMAPE above which the champion is degraded",
    )
    data_timeout_seconds: float = Field(
        30.0, gt=0, description="per-request timeout when reading the data over S3 or HTTP"
    )
    mlflow_timeout_seconds: float = Field(
        60.0, gt=0, description="how long to keep retrying an unreachable MLflow before giving up"
    )
    # MLflow's own variables, read here with the rest; `tracking.configure_mlflow` hands them
    # over.
    mlflow_http_request_timeout: int = Field(
        30, ge=1, description="seconds each MLflow request may take (MLflow's default is 120)"
    )
    mlflow_http_request_max_retries: int = Field(
        3,
        ge=0,
        le=10,  # MLflow refuses more (_MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT)
        description="retries of a failed MLflow request (MLflow's default of 7 takes minutes)",
    )
    mlflow_recovery_seconds: float = Field(
        300.0,
        gt=0,
        description="how long a run MLflow failed waits for it to come back, to mark the run "
        "FAILED instead of leaving it RUNNING",
    )

    @field_validator("families", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        return value


MODEL_NAME_ENV = TrainEnv.env_name("model_name")
EXPERIMENT_ENV = TrainEnv.env_name("experiment_name")
DASK_SCHEDULER_ENV = TrainEnv.env_name("dask_scheduler_address")

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
# which is exactly Dask's (and the trainer's, `TrainEnv.dask_scheduler_address`).
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


def dask_worker_env(*, scheduler_address: V, memory_limit: str) -> dict[str, V | str]:
    """`dask worker`'s variables: where its scheduler is, and the pod's memory limit (a Kubernetes
    quantity such as `2Gi`, which Dask parses too). Tasks carry their series, so a worker reads
    no data and talks to neither MLflow nor S3."""
    return {DASK_SCHEDULER_ENV: scheduler_address, "MEMORY_LIMIT": memory_limit}
