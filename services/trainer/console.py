"""What `mlstack train` and `mlstack score` print on stderr: the project's own progress lines.

Everything else a run sets off is third-party noise the user can do nothing about: Python
warnings (MLflow's, with raw ANSI colours), MLflow's own log and its prints ("Successfully
registered model", "View run" links on stdout, which is the summary's alone), and its tqdm
"Downloading artifacts" bars. All of it goes to the log at debug level, which `--verbose`
shows; without it, only a third-party error gets through.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from typing import TextIO

OWN = "mlstack"  # the project's loggers
PRINTED = "printed"  # the logger of what third-party code prints
# MLflow installs a handler of its own on these at import, which bypasses ours.
SELF_CONFIGURED = ("mlflow", "alembic", "sqlalchemy.engine", "huey")
PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _own(record: logging.LogRecord) -> bool:
    return record.name == OWN or record.name.startswith(OWN + ".")


class _Shown(logging.Filter):
    """The project's records as they are; a third-party one below ERROR only when verbose."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        return _own(record) or record.levelno >= logging.ERROR or self.verbose


class _Format(logging.Formatter):
    """`[name] message`; a third-party record below ERROR is marked as debug, with its source;
    never a terminal escape."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def format(self, record: logging.LogRecord) -> str:
        text = _ANSI.sub("", super().format(record))
        if _own(record):
            return f"[{self.name}] {text}"
        level = "debug" if record.levelno < logging.ERROR else record.levelname.lower()
        return f"[{self.name}] {level} ({record.name}): {text}"


class _Lines(io.TextIOBase):
    """A stream that logs each line written to it, at INFO (shown as debug: it is third-party)."""

    def __init__(self) -> None:
        self._log = logging.getLogger(PRINTED)
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._log.info("%s", line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self._partial.strip():
            self._log.info("%s", self._partial.rstrip())
        self._partial = ""


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, message)


def _own_loggers() -> list[logging.Logger]:
    """The project's loggers below OWN that exist by now (a library's logging configuration,
    such as `dictConfig`'s default `disable_existing_loggers`, may have disabled them)."""
    found = logging.Logger.manager.loggerDict.items()
    return [v for k, v in found if k.startswith(OWN + ".") and isinstance(v, logging.Logger)]


@contextmanager
def _logger(
    name: str, level: int, handlers: list[logging.Handler], propagate: bool
) -> Iterator[None]:
    logger = logging.getLogger(name)
    saved = (logger.level, logger.handlers[:], logger.propagate, logger.disabled)
    logger.setLevel(level)
    logger.handlers, logger.propagate, logger.disabled = handlers, propagate, False
    try:
        yield
    finally:
        logger.level, logger.handlers, logger.propagate, logger.disabled = saved


@contextmanager
def _variable(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


@contextmanager
def console(name: str, verbose: bool = False, stream: TextIO | None = None) -> Iterator[None]:
    """Within it: the project's INFO lines (and DEBUG ones when `verbose`) on `stream` (stderr)
    as `[name] message`, and third-party output routed as the module says. Everything is put
    back on exit."""
    import mlflow  # noqa: F401  (on first import it installs its handler, replaced here)

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Format(name))
    handler.addFilter(_Shown(verbose))
    own_level = logging.DEBUG if verbose else logging.INFO
    with ExitStack() as stack:
        stack.enter_context(_logger("", logging.INFO, [handler], False))
        stack.enter_context(_logger(OWN, own_level, [], True))
        for child in _own_loggers():  # as they inherit from OWN, whatever set them otherwise
            stack.enter_context(_logger(child.name, logging.NOTSET, [], True))
        for other in SELF_CONFIGURED:
            level = logging.getLogger(other).level
            stack.enter_context(_logger(other, level, [], True))
        stack.enter_context(warnings.catch_warnings())
        warnings.showwarning = _log_warning
        stack.enter_context(_variable(PROGRESS_BAR_ENV, "false"))  # bars are no log lines
        printed = _Lines()
        stack.enter_context(redirect_stdout(printed))
        stack.enter_context(redirect_stderr(printed))
        try:
            yield
        finally:
            printed.flush()
