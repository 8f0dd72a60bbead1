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
    id_column: Annotated[
        str | None,
        typer.Option(help="series column of a CSV of many series [env ID_COLUMN, unique_id]"),
    ] = None,
    series_id: Annotated[
        str | None, typer.Option(help="id of a CSV's one series without it [env SERIES_ID, y]")
    ] = None,
    ds_column: Annotated[str | None, typer.Option(help="date column [env DS_COLUMN]")] = None,
    y_column: Annotated[str | None, typer.Option(help="value column [env Y_COLUMN]")] = None,
    freq: Annotated[
        str | None, typer.Option(help="pandas frequency alias, inferred if unset [env FREQ]")
    ] = None,
    season_length: Annotated[
        int | None, typer.Option(help="season length, inferred if unset [env SEASON_LENGTH]")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="processes fitting series in parallel (all cores) [env TRAIN_WORKERS]"),
    ] = None,
    max_regressed: Annotated[
        float | None,
        typer.Option(help="promotion: most series that may regress (0.1) [env MAX_REGRESSED]"),
    ] = None,
    regression_tolerance: Annotated[
        float | None,
        typer.Option(help="promotion: SMAPE loss that regresses (0.1) [env REGRESSION_TOLERANCE]"),
    ] = None,
) -> None:
    """Train on a `ds,y` series or a `unique_id,ds,y` CSV of many (fitted in parallel; on the
    Dask cluster at DASK_SCHEDULER_ADDRESS when set), log to MLflow, register a version, and
    promote it if it wins."""
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
        "id_column": id_column,
        "series_id": series_id,
        "ds_column": ds_column,
        "y_column": y_column,
        "freq": freq,
        "season_length": season_length,
        "workers": workers,
        "max_regressed": max_regressed,
        "regression_tolerance": regression_tolerance,
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
