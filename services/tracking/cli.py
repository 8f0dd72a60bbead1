"""`mlstack tracking ARGS`: `mlflow server ARGS`, once its local stores are known writable, and
behind MLflow's basic-auth app with its users in place when the variables configure it."""

from __future__ import annotations

import os

import typer

HINT = (
    "mount the data volume read-write (on Kubernetes, the MLflow PersistentVolumeClaim); "
    "MLflow is not started"
)


def tracking(ctx: typer.Context) -> None:
    """Run `mlflow server` with these arguments, after checking that its local store (SQLite
    database, artifact folder) can be written."""
    from services.tracking.preflight import problems

    args = list(ctx.args)
    found = problems(args)
    if found:
        for problem in found:
            typer.echo(f"error: {problem}", err=True)
        typer.echo(f"error: {HINT}", err=True)
        raise typer.Exit(1)
    args += _authentication(args)
    from services.local.process import executable

    # MLflow's own script beside this interpreter (the venv's), whatever PATH says, as `mlstack
    # up` checks it (ServiceSpec.needs); the server takes this process over.
    os.execvp(executable("mlflow") or "mlflow", ["mlflow", "server", *args])


def _authentication(args: list[str]) -> list[str]:
    """With authentication configured: its config file and users made, and the arguments that
    turn it on; nothing otherwise."""
    from services.tracking import auth
    from services.tracking.preflight import backend_store
    from services.tracking.upgrade import UpgradeError

    try:
        configured = auth.settings()
    except auth.AuthConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if configured is None:
        typer.echo("warning: no MLflow authentication configured: anyone can write", err=True)
        return []
    database = backend_store(args)
    if database is None:
        typer.echo("error: authentication keeps its users in a database store", err=True)
        raise typer.Exit(1)
    os.environ[auth.CONFIG_ENV] = str(auth.write_config(database))
    try:
        auth.provision(database, configured, typer.echo)
    except UpgradeError as exc:  # the database, or another replica holding the lock too long
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    return list(auth.APP_ARGS)


SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def db_upgrade(
    wait_seconds: int = typer.Option(
        900, min=1, help="How long to wait for another db-upgrade that holds the lock."
    ),
) -> None:
    """Upgrade the PostgreSQL schema in MLFLOW_BACKEND_STORE_URI to this MLflow's (`mlflow db
    upgrade`), one process at a time: run before the servers start."""
    from contract.tracking import BACKEND_STORE_ENV
    from services.tracking.upgrade import UpgradeError, upgrade

    uri = os.environ.get(BACKEND_STORE_ENV, "")
    if not uri:
        typer.echo(f"error: {BACKEND_STORE_ENV} is not set: no database to upgrade", err=True)
        raise typer.Exit(1)
    try:
        upgrade(uri, wait_seconds, typer.echo)
    except UpgradeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
