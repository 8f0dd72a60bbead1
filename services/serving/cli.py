"""`mlstack serve`: run the serving API with uvicorn, configured from the environment."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from contract.api import GRACEFUL_SHUTDOWN_SECONDS


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (env HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (env WORKERS); keep 1, scale with pods.")
    ] = None,
) -> None:
    """Serve forecasts from models:/$MODEL_NAME@$MODEL_ALIAS, following the alias."""
    import logging

    import uvicorn
    from pydantic import ValidationError

    from services.serving.deadline import protocol
    from services.serving.settings import Settings

    flags: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"{field}: {error['msg']}", err=True)
        raise typer.Exit(1) from None
    if settings.workers > 1 and not settings.prometheus_multiproc_dir:
        typer.echo(
            "WORKERS: more than one worker needs PROMETHEUS_MULTIPROC_DIR (an empty writable "
            "folder) so /metrics sums all workers; prefer WORKERS=1 and more replicas",
            err=True,
        )
        raise typer.Exit(1)
    log_format = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=settings.log_level.upper(), format=log_format)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,  # per-request logging costs more than a cached forecast
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # uvicorn's httptools protocol, with a deadline for reading each request (408)
        "http": protocol(settings.request_read_seconds),
    }
    if settings.workers == 1:
        from services.serving.app import create_app

        uvicorn.run(create_app(settings), **common)
    else:  # each worker builds its app from the same environment (uvicorn binds host and port)
        uvicorn.run("services.serving.main:app", workers=settings.workers, **common)
