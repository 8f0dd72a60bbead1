"""`mlstack train`, `mlstack score` and `mlstack promote`: flags over environment; the
project's progress on stderr (third-party noise only with `--verbose`:
services/trainer/console.py), one JSON line on stdout (`promote --explain`: lines of text)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

Data = Annotated[
    str | None,
    typer.Option("--data", help="CSV path or file://, s3://, http(s):// URI [env DATA_URI]"),
]
ModelName = Annotated[str | None, typer.Option(help="registered model name [env MODEL_NAME]")]
IdColumn = Annotated[
    str | None,
    typer.Option(help="series column of a CSV of many series [env ID_COLUMN, unique_id]"),
]
SeriesId = Annotated[
    str | None, typer.Option(help="id of a CSV's one series without it [env SERIES_ID, y]")
]
DsColumn = Annotated[str | None, typer.Option(help="date column [env DS_COLUMN]")]
YColumn = Annotated[str | None, typer.Option(help="value column [env Y_COLUMN]")]
Promotion = Annotated[
    str | None,
    typer.Option(
        help="what moves the alias: backtest (at training), realised (evidence of `mlstack "
        "score`, with rollback) or both [env PROMOTION]"
    ),
]
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="also show third-party warnings and logs, as debug"),
]


def train(
    data: Data = None,
    model_name: ModelName = None,
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
    id_column: IdColumn = None,
    series_id: SeriesId = None,
    ds_column: DsColumn = None,
    y_column: YColumn = None,
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
    promote_if_degraded: Annotated[
        bool | None,
        typer.Option(
            "--promote-if-degraded/--no-promote-if-degraded",
            help="a tie wins over a champion whose realised SMAPE exceeds its backtest's by the "
            "degradation ratio [env PROMOTE_IF_DEGRADED]",
        ),
    ] = None,
    degradation_ratio: Annotated[
        float | None,
        typer.Option(
            help="realised over backtest SMAPE that is degraded (1.5) [env DEGRADATION_RATIO]"
        ),
    ] = None,
    replace_served: Annotated[
        bool | None,
        typer.Option(
            "--replace-served",
            help="serve this version even on a stale extract, another frequency or other series "
            "than the served one, or when nothing is comparable [env REPLACE_SERVED]",
        ),
    ] = None,
    promotion: Promotion = None,
    verbose: Verbose = False,
) -> None:
    """Train on a `ds,y` series or a `unique_id,ds,y` CSV of many (fitted in parallel; on the
    Dask cluster at DASK_SCHEDULER_ADDRESS when set), log to MLflow, register a version, and
    promote it if it wins (scoring the served version on the data first)."""
    flags: dict[str, Any] = {
        "data_uri": data,
        "model_name": model_name,
        "experiment_name": experiment,
        "horizon": horizon,
        "promote": promote,
        "families": families,
        "id_column": id_column,
        "series_id": series_id,
        "ds_column": ds_column,
        "y_column": y_column,
        "freq": freq,
        "season_length": season_length,
        "train_workers": workers,
        "max_regressed": max_regressed,
        "regression_tolerance": regression_tolerance,
        "promote_if_degraded": promote_if_degraded,
        "degradation_ratio": degradation_ratio,
        "replace_served": replace_served,
        "promotion": promotion,
    }

    def work(cfg: Any) -> Any:
        from services.trainer.run import train as run_training

        return run_training(cfg)

    _run("train", work, flags, verbose)


def score(
    data: Data = None,
    model_name: ModelName = None,
    id_column: IdColumn = None,
    series_id: SeriesId = None,
    ds_column: DsColumn = None,
    y_column: YColumn = None,
    min_points: Annotated[
        int | None,
        typer.Option(help="new points a series needs to be scored (1) [env SCORE_MIN_POINTS]"),
    ] = None,
    promotion: Promotion = None,
    verbose: Verbose = False,
) -> None:
    """Score the `@prod` version's forecasts against the points that arrived since it was
    trained (same data options as train), then each challenger registered since it (and the
    version it replaced) and its standing against `@prod`; tags the versions, logs to their
    runs; under PROMOTION=realised or both, promotes or rolls back on that evidence; one JSON
    line."""
    flags: dict[str, Any] = {
        "data_uri": data,
        "model_name": model_name,
        "id_column": id_column,
        "series_id": series_id,
        "ds_column": ds_column,
        "y_column": y_column,
        "score_min_points": min_points,
        "promotion": promotion,
    }

    def work(cfg: Any) -> Any:
        from services.trainer.score import score as run_scoring
        from services.trainer.tracking import reach_mlflow

        return run_scoring(cfg, reach_mlflow(cfg))

    _run("score", work, flags, verbose)


def promote(
    explain: Annotated[
        bool, typer.Option("--explain", help="print each challenger's standing against @prod")
    ] = False,
    to: Annotated[
        str | None, typer.Option("--to", help="move @prod to this version by hand, recorded")
    ] = None,
    model_name: ModelName = None,
    promotion: Promotion = None,
    verbose: Verbose = False,
) -> None:
    """`--explain`: each challenger's (and the previous champion's) standing against `@prod`,
    as `mlstack score` last tagged it, and what PROMOTION does with it. `--to N`: serve version
    N (one series to a panel, another data source), recorded on it as a move by hand."""
    if explain == (to is not None):
        typer.echo("error: give one of --explain or --to VERSION", err=True)
        raise typer.Exit(2)
    flags: dict[str, Any] = {"model_name": model_name, "promotion": promotion}

    def work(cfg: Any) -> Any:
        from services.trainer import evidence
        from services.trainer.tracking import reach_mlflow

        client = reach_mlflow(cfg)
        if to is None:
            return evidence.explain(cfg, client)
        return evidence.by_hand(cfg, client, to)

    _run("promote", work, flags, verbose, render=str if explain else json.dumps)


def _run(
    name: str,
    work: Callable[[Any], Any],
    flags: dict[str, Any],
    verbose: bool,
    render: Callable[[Any], str] = lambda summary: summary.to_json(),
) -> None:
    """Settings from `flags` over the environment, then `work` (which imports what it needs, so
    that even import-time warnings are routed); errors as one line each; what it returns,
    `render`ed, on stdout."""
    from services.trainer.console import console

    try:
        with console(name, verbose):
            from services.trainer.config import TrainConfig

            summary = work(TrainConfig(**{k: v for k, v in flags.items() if v is not None}))
    except Exception as exc:
        code = _explained(exc)
        if code is None:
            raise
        raise typer.Exit(code) from None
    typer.echo(render(summary))


def _explained(exc: Exception) -> int | None:
    """Say what went wrong in one line per problem, and the exit code: 2 for bad settings, 1 for
    bad data or an unusable MLflow; None for a failure nobody foresaw (its traceback shows)."""
    from pydantic import ValidationError

    from services.forecasting.backtest import BacktestFailed
    from services.forecasting.data import DataError
    from services.forecasting.frequency import FrequencyError
    from services.registry import RegistryError
    from services.trainer.score import ScoreError
    from services.trainer.tracking import MlflowUnavailable

    if isinstance(exc, ValidationError):
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "config"
            typer.echo(f"error: {field}: {error['msg']}", err=True)
        return 2
    told = (DataError, FrequencyError, BacktestFailed, MlflowUnavailable, ScoreError)
    if isinstance(exc, (*told, RegistryError)):
        typer.echo(f"error: {exc}", err=True)
        return 1
    return None
