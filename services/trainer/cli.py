"""`mlstack train`: flags over environment; progress on stderr, one JSON line on stdout."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer


def train(
    data: Annotated[
        str | None,
        typer.Option("--data", help="CSV path or file://, s3://, http(s):// URI [env DATA_URI]"),
    ] = None,
    model_name: Annotated[
        str | None, typer.Option(help="registered model name [env MODEL_NAME]")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment [env EXPERIMENT_NAME]")
    ] = None,
    horizon: Annotated[
        int | None, typer.Option(help="backtest and plot horizon [env HORIZON]")
    ] = None,
    promote: Annotated[
        bool | None,
        typer.Option("--promote/--no-promote", help="allow moving the alias [env PROMOTE]"),
    ] = None,
    families: Annotated[
        str | None, typer.Option(help="comma list of model families [env FAMILIES]")
    ] = None,
    ds_column: Annotated[str | None, typer.Option(help="date column [env DS_COLUMN]")] = None,
    y_column: Annotated[str | None, typer.Option(help="value column [env Y_COLUMN]")] = None,
    freq: Annotated[
        str | None, typer.Option(help="pandas frequency alias, inferred if unset [env FREQ]")
    ] = None,
    season_length: Annotated[
        int | None, typer.Option(help="season length, inferred if unset [env SEASON_LENGTH]")
    ] = None,
) -> None:
    """Train on a `ds,y` series, log to MLflow, register a version, promote it if it wins."""
    from pydantic import ValidationError

    from services.forecasting.backtest import BacktestFailed
    from services.forecasting.data import DataError
    from services.forecasting.frequency import FrequencyError

    logging.basicConfig(level=logging.INFO, format="[train] %(message)s", stream=sys.stderr)
    flags: dict[str, Any] = {
        "data_uri": data,
        "model_name": model_name,
        "experiment": experiment,
        "horizon": horizon,
        "promote": promote,
        "families": families,
        "ds_column": ds_column,
        "y_column": y_column,
        "freq": freq,
        "season_length": season_length,
    }
    try:
        from services.trainer.config import TrainConfig
        from services.trainer.run import MlflowUnavailable
        from services.trainer.run import train as run_training

        cfg = TrainConfig(**{k: v for k, v in flags.items() if v is not None})
        summary = run_training(cfg)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "config"
            typer.echo(f"error: {field}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    except (DataError, FrequencyError, BacktestFailed, MlflowUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(summary.to_json())
