"""`mlstack demo`: the Streamlit demo, headless, on DEMO_HOST:DEMO_PORT (127.0.0.1:8501 unless
told otherwise; its container passes its own host)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

APP = Path(__file__).with_name("app.py")


def argv(host: str, port: int) -> list[str]:
    """`streamlit run` for the demo: no browser, no usage statistics, no file watching."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" or developer menu for visitors
    ]  # fmt: skip


def demo(
    host: Annotated[
        str,
        typer.Option(
            envvar="DEMO_HOST",
            help="Interface to listen on; 0.0.0.0 puts the demo, and the API token it "
            "forwards, on the network.",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="DEMO_PORT")] = 8501,
) -> None:
    """Serve the Streamlit demo against the API at API_URL (default http://localhost:8000)."""
    command = argv(host, port)
    # exec, not a child: signals reach Streamlit directly, in a container and under `mlstack up`.
    os.execv(command[0], command)
