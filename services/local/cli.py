"""`mlstack up`, `mlstack down`, `mlstack status`: the whole stack on one machine, no cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from contract.api import TOKEN_ENV
from contract.trainer import BUNDLED_DATA, EXPERIMENT_ENV, MODEL_NAME_ENV
from services.local.config import DEFAULT_MAX_RESTARTS, DEFAULT_PORTS

StateDir = Annotated[
    Path, typer.Option(envvar="MLSTACK_STATE_DIR", help="Runs, models, logs and the state file.")
]


def _port(name: str) -> Any:
    return typer.Option(
        envvar=f"MLSTACK_{name.upper()}_PORT", help=f"Port for {name} (0 picks a free one)."
    )


def up(
    detach: Annotated[bool, typer.Option(help="Run in the background; stop with `down`.")] = False,
    state_dir: StateDir = Path(".mlstack"),
    host: Annotated[str, typer.Option(help="Interface every service listens on.")] = "127.0.0.1",
    mlflow_port: Annotated[int, _port("mlflow")] = DEFAULT_PORTS["mlflow"],
    api_port: Annotated[int, _port("api")] = DEFAULT_PORTS["api"],
    demo_port: Annotated[int, _port("demo")] = DEFAULT_PORTS["demo"],
    prometheus_port: Annotated[int, _port("prometheus")] = DEFAULT_PORTS["prometheus"],
    model_name: Annotated[str, typer.Option(envvar=MODEL_NAME_ENV)] = "ForecastModel",
    experiment: Annotated[str, typer.Option(envvar=EXPERIMENT_ENV)] = "forecasting",
    data: Annotated[
        str, typer.Option(help="Series (ds,y CSV) for the first training and the demo's chart.")
    ] = str(BUNDLED_DATA),
    families: Annotated[
        str | None, typer.Option(help="Model families for the first training, e.g. ets,theta.")
    ] = None,
    api_token: Annotated[
        str | None, typer.Option(envvar=TOKEN_ENV, help="Bearer token for the API.")
    ] = None,
    tracking_db: Annotated[
        str | None,
        typer.Option(
            envvar="MLSTACK_TRACKING_DB",
            help="PostgreSQL URI (postgresql://...) for MLflow's registry, upgraded first; "
            "default: SQLite in the state directory. Prefer the variable: a flag shows in ps.",
        ),
    ] = None,
    max_restarts: Annotated[
        int,
        typer.Option(
            envvar="MLSTACK_MAX_RESTARTS",
            min=0,
            help="Restarts in a row of a service that keeps exiting, before giving up on it.",
        ),
    ] = DEFAULT_MAX_RESTARTS,
) -> None:
    """Run MLflow, the trainer (once), the API, the demo and Prometheus locally."""
    from services.local import control, stack
    from services.local.config import LocalConfig

    ports = {
        "mlflow": mlflow_port,
        "api": api_port,
        "demo": demo_port,
        "prometheus": prometheus_port,
    }
    cfg = LocalConfig(
        state_dir=state_dir,
        host=host,
        ports=ports,
        model_name=model_name,
        experiment=experiment,
        data_uri=data,
        families=families,
        api_token=api_token,
        tracking_db=tracking_db or None,
        max_restarts=max_restarts,
    )
    raise typer.Exit(control.detach(cfg) if detach else stack.run(cfg))


def down(state_dir: StateDir = Path(".mlstack")) -> None:
    """Stop a stack started with `mlstack up --detach`."""
    from services.local import control

    raise typer.Exit(control.down(state_dir.resolve()))


def status(state_dir: StateDir = Path(".mlstack")) -> None:
    """Show each service's state, restarts and URL, and the model the API serves now; exit 1
    when a service is not up."""
    from services.local import control

    raise typer.Exit(control.status(state_dir.resolve()))
