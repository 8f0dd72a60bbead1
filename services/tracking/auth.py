"""MLflow's basic-auth app for `mlstack tracking`: its config file, and the two identities.

Users and permissions live in the tracking database itself (MLflow's auth tables beside its
own), so a PostgreSQL store keeps them with the runs and models. Nobody is allowed anything by
default (`NO_PERMISSIONS`; no credentials at all is a 401). At every start, before the server,
the writer and the reader are created, or their passwords reset, from the variables
(contract/tracking.py), and so is the admin's password, so rotating any of them is a restart:
- the writer (trainer, scorer) edits every experiment and registered model: it logs runs,
  registers versions and moves aliases, but deletes nothing and manages no permission;
- the reader (API) reads its one registered model, and the experiments, because MLflow checks a
  model's artifacts against the experiment they were logged in. It cannot register or alias.
"""

from __future__ import annotations

import configparser
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from contract.tracking import (
    ADMIN,
    ADMIN_PASSWORD_ENV,
    ADMIN_USERNAME_ENV,
    READER_MODEL_ENV,
    READER_PASSWORD_ENV,
    READER_USERNAME_ENV,
    SECRET_KEY_ENV,
    WRITER_PASSWORD_ENV,
    WRITER_USERNAME_ENV,
)

CONFIG_ENV = "MLFLOW_AUTH_CONFIG_PATH"
APP_ARGS = ("--app-name", "basic-auth")
DEFAULT_PERMISSION = "NO_PERMISSIONS"
EVERY = "*"
# (resource type, pattern, permission) per identity; the reader's model is filled in.
WRITER_GRANTS = (("experiment", EVERY, "EDIT"), ("registered_model", EVERY, "EDIT"))
READER_GRANTS = (("experiment", EVERY, "READ"),)
# How long a server waits for another replica's upgrade or user set-up (the lock's holder).
LOCK_WAIT_SECONDS = 900


class AuthConfigError(ValueError):
    """The authentication variables are incomplete."""


@dataclass(frozen=True)
class Identity:
    username: str
    password: str


@dataclass(frozen=True)
class AuthSettings:
    admin: Identity
    writer: Identity
    reader: Identity
    reader_model: str


def settings(env: Mapping[str, str] = os.environ) -> AuthSettings | None:
    """The identities the variables describe; None when authentication is not configured (no
    admin password), an error naming what is missing when it is configured only in part."""
    if not env.get(ADMIN_PASSWORD_ENV):
        return None
    needed = (
        SECRET_KEY_ENV,
        WRITER_USERNAME_ENV,
        WRITER_PASSWORD_ENV,
        READER_USERNAME_ENV,
        READER_PASSWORD_ENV,
        READER_MODEL_ENV,
    )
    missing = [name for name in needed if not env.get(name)]
    if missing:
        raise AuthConfigError(f"{ADMIN_PASSWORD_ENV} is set, so these are needed too: {missing}")
    return AuthSettings(
        admin=Identity(env.get(ADMIN_USERNAME_ENV) or ADMIN, env[ADMIN_PASSWORD_ENV]),
        writer=Identity(env[WRITER_USERNAME_ENV], env[WRITER_PASSWORD_ENV]),
        reader=Identity(env[READER_USERNAME_ENV], env[READER_PASSWORD_ENV]),
        reader_model=env[READER_MODEL_ENV],
    )


def write_config(database_uri: str, folder: Path | None = None) -> Path:
    """MLflow's auth config file, readable by this user only (the URI may hold a password), in
    a fresh private folder (on Kubernetes, the pod's scratch volume)."""
    parser = configparser.ConfigParser()
    parser["mlflow"] = {
        "default_permission": DEFAULT_PERMISSION,
        "database_uri": database_uri.replace("%", "%%"),  # configparser interpolates `%`
    }
    path = Path(tempfile.mkdtemp(prefix="mlflow-auth-", dir=folder)) / "basic_auth.ini"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        parser.write(file)
    return path


def provision(
    database_uri: str, auth: AuthSettings, say: Callable[[str], None] = lambda _: None
) -> None:
    """Create (or reset the password of) the writer and the reader, and grant them their rights,
    in the auth tables of `database_uri` (made or migrated first); reset the admin's password
    too, which MLflow itself sets only when it creates the admin. On PostgreSQL, where replicas
    start together, under the schema upgrade's advisory lock: one server at a time."""
    from services.tracking.upgrade import is_postgresql, one_at_a_time

    if is_postgresql(database_uri):
        with one_at_a_time(database_uri, LOCK_WAIT_SECONDS, say):
            _provision(database_uri, auth)
    else:
        _provision(database_uri, auth)


def _provision(database_uri: str, auth: AuthSettings) -> None:
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(database_uri)
    reader_grants = (*READER_GRANTS, ("registered_model", auth.reader_model, "READ"))
    for identity, grants in ((auth.writer, WRITER_GRANTS), (auth.reader, reader_grants)):
        if store.has_user(identity.username, use_primary=True):
            store.update_user(identity.username, password=identity.password)
        else:
            store.create_user(identity.username, identity.password)
        for resource_type, pattern, permission in grants:
            store.grant_user_permission(identity.username, resource_type, pattern, permission)
    if store.has_user(auth.admin.username, use_primary=True):
        store.update_user(auth.admin.username, password=auth.admin.password)
    store.engine.dispose()
