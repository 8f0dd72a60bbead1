"""The dependency audit: CI runs `make audit` over the lock file, accepted advisories are listed
with a reason, and an audit that cannot reach its data says so (and fails only under CI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.local import process
from tests.binaries import run

ROOT = Path(__file__).resolve().parents[2]
IGNORE = ROOT / "audit-ignore.txt"
ADVISORY = re.compile(r"^(GHSA(-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+|CVE-\d{4}-\d+)$")


def entries() -> list[tuple[str, str]]:
    found = []
    for line in IGNORE.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            advisory, _, reason = text.partition(" ")
            found.append((advisory, reason.strip()))
    return found


def test_ci_runs_make_audit() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(run.strip() == "make audit" for run in runs)  # ci.yml's triggers: test_repo.py


def test_every_accepted_advisory_names_its_id_and_a_reason() -> None:
    for advisory, reason in entries():
        assert ADVISORY.match(advisory), f"not an advisory id: {advisory}"
        assert len(reason.split()) >= 4, f"{advisory} needs a reason of a few words"


def make_audit(probe: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    # -o: never re-sync the environment the tests are running in.
    return run(["make", "-s", "-o", ".venv/.synced", "audit", f"AUDIT_PROBE={probe}"], env=env)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_an_audit_that_cannot_reach_pypi_says_so_and_fails_only_under_ci() -> None:
    closed = f"http://127.0.0.1:{process.free_port()}/pypi/pip/24.0/json"
    outside = make_audit(closed, ci=None)
    assert outside.returncode == 0
    assert "audit skipped" in outside.stderr and "unreachable" in outside.stderr
    under_ci = make_audit(closed, ci="true")
    assert under_ci.returncode != 0
    assert "unreachable" in under_ci.stderr
