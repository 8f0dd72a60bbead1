"""Programs the tests drive for real (promtool, prometheus, wrk, chromium): one rule for all.

Where one is missing a test that needs it skips, saying how to get it; in CI (`CI` set) the setup
installs every one of them, so a missing program fails instead of quietly testing less. `run`
runs one as every test does: output captured as text, a timeout, the exit code left to the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

HINT = "`make system-deps` installs it"
ROOT = Path(__file__).resolve().parents[1]


def need(what: str, found: bool, hint: str = HINT) -> None:
    """Skip (fail in CI) unless `found`."""
    if found:
        return
    reason = f"{what} is not installed: {hint}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it, so its absence is a broken setup)")
    pytest.skip(reason)


def binary(name: str, hint: str = HINT) -> str:
    """The path of `name` on PATH; skips (fails in CI) where it is missing."""
    path = shutil.which(name)
    need(name, path is not None, hint)
    assert path is not None
    return path


def have(name: str) -> bool:
    """Whether `name` is on PATH, for tests that expect more when it is; fails in CI if not."""
    found = shutil.which(name) is not None
    if not found and os.environ.get("CI"):
        pytest.fail(f"{name} is not installed, and CI installs it: a broken setup")
    return found


def run(
    argv: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`argv` to its end (in the repository unless `cwd` says otherwise), output as text."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def imported_by(code: str) -> set[str]:
    """The top-level packages a fresh interpreter in the repository has imported after `code`."""
    report = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = run([sys.executable, "-c", f"{code}\n{report}"])
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))
