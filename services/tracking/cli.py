"""`mlstack tracking ARGS`: `mlflow server ARGS`, once its local stores are known writable."""

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
    from services.local.process import executable

    # MLflow's own script beside this interpreter (the venv's), whatever PATH says, as `mlstack
    # up` checks it (ServiceSpec.needs); the server takes this process over.
    os.execvp(executable("mlflow") or "mlflow", ["mlflow", "server", *args])


SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}
