"""The MLflow tracking server (`mlstack tracking`, then `mlflow server`) and its database's schema
upgrade (`mlstack db-upgrade`): their specs and variables.

The server's command line reads its variables as `$(NAME)`, so the local stack and the pod run one
argv. The backend store's URI is the exception: it may hold a password, so it stays in
`MLFLOW_BACKEND_STORE_URI`, which `mlflow server` and `mlstack db-upgrade` read themselves, and is
never on a command line (where `ps` shows it).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TypeVar

from contract.env import given
from contract.service import ALL_INTERFACES, ServiceSpec

V = TypeVar("V")  # a value: `str` locally, `pulumi.Input[str]` on Kubernetes
TRACKING_PORT = 5000
# Read by `mlflow server` itself; on Kubernetes from a Secret when it holds a password.
BACKEND_STORE_ENV = "MLFLOW_BACKEND_STORE_URI"

# Authentication (services/tracking/auth.py): set these and `mlstack tracking` runs MLflow's
# basic-auth app, its users in the tracking database. MLflow's own variables: the admin it
# creates on first start, and the key that signs its CSRF tokens.
ADMIN_USERNAME_ENV = "MLFLOW_AUTH_ADMIN_USERNAME"
ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"
# Ours: the two identities the server keeps in step with these variables at every start. The
# writer (trainer, scorer) edits every experiment and model; the reader (API) reads the one model.
WRITER_USERNAME_ENV = "TRACKING_WRITER_USERNAME"
WRITER_PASSWORD_ENV = "TRACKING_WRITER_PASSWORD"
READER_USERNAME_ENV = "TRACKING_READER_USERNAME"
READER_PASSWORD_ENV = "TRACKING_READER_PASSWORD"
READER_MODEL_ENV = "TRACKING_READER_MODEL"
# A client's identity: MLflow's client (trainer, scorer) and services/registry.py (API) read them.
CLIENT_USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
CLIENT_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
ADMIN, WRITER, READER = "admin", "trainer", "api"  # the usernames

# fmt: off
# `mlflow server`, once its local store is known writable (services/tracking/).
_TRACKING_ARGS = (
    "mlstack", "tracking",
    "--host", "$(MLFLOW_HOST)",
    "--port", "$(MLFLOW_PORT)",
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
    port=TRACKING_PORT,
    env=MappingProxyType(
        {
            "MLFLOW_HOST": ALL_INTERFACES,
            "MLFLOW_PORT": str(TRACKING_PORT),
            # The server's job runner (GenAI evaluation jobs) starts a dozen worker processes we
            # never use: off, it saves ~1 GB and most of the start-up time.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    ),
    ready_path="/health",
    live_path="/health",
)


# `mlflow db upgrade` on the PostgreSQL store in MLFLOW_BACKEND_STORE_URI, under an advisory lock
# so that two of them (two replicas starting) never migrate at once: the first upgrades, the
# next finds the schema current and does nothing. Kubernetes runs it as the server's init
# container; `mlstack up --tracking-db` before the server.
DB_UPGRADE = ServiceSpec(
    name="db-upgrade",
    image=TRACKING.image,
    extra=TRACKING.extra,
    args=("mlstack", "db-upgrade"),
)


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
    return given(MLFLOW_HOST=host, MLFLOW_PORT=port) | env


def auth_env(
    *,
    admin_password: V,
    secret_key: V,
    writer_password: V,
    reader_password: V,
    reader_model: str,
) -> dict[str, V | str]:
    """The server's authentication variables (on Kubernetes, all but the names from Secrets)."""
    return {
        ADMIN_USERNAME_ENV: ADMIN,
        ADMIN_PASSWORD_ENV: admin_password,
        SECRET_KEY_ENV: secret_key,
        WRITER_USERNAME_ENV: WRITER,
        WRITER_PASSWORD_ENV: writer_password,
        READER_USERNAME_ENV: READER,
        READER_PASSWORD_ENV: reader_password,
        READER_MODEL_ENV: reader_model,
    }


def client_env(username: str, password: V) -> dict[str, V | str]:
    """A client's identity, as MLflow's client reads it."""
    return {CLIENT_USERNAME_ENV: username, CLIENT_PASSWORD_ENV: password}
