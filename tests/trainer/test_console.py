"""What `mlstack train` and `mlstack score` print: the project's own lines; third-party
warnings, logs and prints only as debug lines with `--verbose`; and help that fits 80 columns."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import warnings

import pytest
import typer.main
from typer.testing import CliRunner

from services.cli import app
from services.trainer.console import console


def _run_noisy_work(verbose: bool) -> list[str]:
    """What a run like the trainer's sets off, within `console`; the lines it shows."""
    shown = io.StringIO()
    with console("train", verbose, shown):
        logging.getLogger("mlstack.train").info("1/1 series (100%%), %d trained, done", 1)
        logging.getLogger("mlstack.train").debug("a detail of our own")
        warnings.warn("\x1b[33mAdd type hints to `predict`\x1b[0m", UserWarning, stacklevel=1)
        logging.getLogger("mlflow.store").info("Waiting up to 300 seconds")
        print("🏃 View run gifted-seal-326 at: http://127.0.0.1:5000/#/runs/1")
        print("Successfully registered model 'm'.", file=sys.stderr)
        logging.getLogger("urllib3.connectionpool").error("connection refused")
    return shown.getvalue().splitlines()


def test_third_party_warnings_logs_and_prints_stay_out_and_its_errors_get_through():
    assert _run_noisy_work(verbose=False) == [
        "[train] 1/1 series (100%), 1 trained, done",
        "[train] error (urllib3.connectionpool): connection refused",
    ]


def test_verbose_shows_them_as_debug_lines_without_terminal_escapes():
    assert _run_noisy_work(verbose=True) == [
        "[train] 1/1 series (100%), 1 trained, done",
        "[train] a detail of our own",
        "[train] debug (py.warnings): UserWarning: Add type hints to `predict`",
        "[train] debug (mlflow.store): Waiting up to 300 seconds",
        "[train] debug (printed): 🏃 View run gifted-seal-326 at: http://127.0.0.1:5000/#/runs/1",
        "[train] debug (printed): Successfully registered model 'm'.",
        "[train] error (urllib3.connectionpool): connection refused",
    ]


def test_the_projects_lines_show_whatever_a_library_did_to_its_loggers():
    # As `logging.config.dictConfig` leaves loggers that existed before it (its default).
    train = logging.getLogger("mlstack.train")
    saved = (train.disabled, train.level, train.propagate)
    train.disabled, train.level, train.propagate = True, logging.ERROR, False
    try:
        assert _run_noisy_work(verbose=False)[0] == "[train] 1/1 series (100%), 1 trained, done"
        assert (train.disabled, train.level, train.propagate) == (True, logging.ERROR, False)
    finally:
        train.disabled, train.level, train.propagate = saved


def test_everything_is_put_back_afterwards(monkeypatch):
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    root, mlflow_logger = logging.getLogger(), logging.getLogger("mlflow")
    before = (root.handlers[:], mlflow_logger.handlers[:], mlflow_logger.propagate)
    showwarning, stdout, stderr = warnings.showwarning, sys.stdout, sys.stderr
    with console("score", stream=io.StringIO()):
        assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"  # no tqdm bars
    assert (root.handlers, mlflow_logger.handlers, mlflow_logger.propagate) == before
    assert (warnings.showwarning, sys.stdout, sys.stderr) == (showwarning, stdout, stderr)
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ


@pytest.mark.parametrize("command", ["train", "score", "serve", "demo", "up", "down", "status"])
def test_help_at_80_columns_shows_every_option_whole_with_its_variable(command):
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    names = [name for param in params for name in (*param.opts, *param.secondary_opts)]
    shown = set(re.findall(r"(?<![\w-])-{1,2}[A-Za-z][\w-]*", result.output))
    assert names and [n for n in names if n not in shown] == []
    if command == "train":  # help texts name their variables, not eaten as markup
        assert "[env REGRESSION_TOLERANCE]" in " ".join(result.output.split())
