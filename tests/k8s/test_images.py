"""services/Dockerfile: hadolint clean, and built from the same specs and lock the cluster uses.

These tests read the Dockerfile (one target per image) and check it against the deploy contract
(`contract/`), the lock file's extras and the stack config; tests/containers builds the images
and runs them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract.api import API
from contract.demo import DEMO
from contract.service import ServiceSpec
from contract.tracking import TRACKING
from contract.trainer import TRAINER
from infra import pod
from k8s.harness import ROOT
from stacks.config import MinikubeConfig
from stacks.minikube import IMAGE_DATA

DOCKERFILE = ROOT / "services" / "Dockerfile"
TARGETS = {"mlflow": TRACKING, "trainer": TRAINER, "serving": API, "demo": DEMO}
HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    lines: tuple[str, ...]  # instructions, continuation lines joined

    def get(self, keyword: str) -> list[str]:
        return [ln[len(keyword) + 1 :].strip() for ln in self.lines if ln.startswith(keyword + " ")]


def stages(text: str | None = None) -> dict[str, Stage]:
    """The Dockerfile's stages by name, in order."""
    joined = re.sub(r"\\\n\s*", " ", text or DOCKERFILE.read_text())
    found: dict[str, Stage] = {}
    name, base, lines = "", "", []
    for line in joined.splitlines():
        if match := re.match(r"FROM (\S+) AS (\S+)$", line):
            if name:
                found[name] = Stage(name, base, tuple(lines))
            base, name, lines = match.group(1), match.group(2), []
        elif name and line and not line.startswith("#"):
            lines.append(line)
    found[name] = Stage(name, base, tuple(lines))
    return found


def env_of(stage: Stage) -> dict[str, str]:
    return dict(pair.split("=", 1) for line in stage.get("ENV") for pair in line.split())


def deps_stage(target: str) -> Stage:
    """The stage whose venv the target copies."""
    (copy,) = [c for c in stages()[target].get("COPY") if c.startswith("--from=")]
    return stages()[copy.split()[0].removeprefix("--from=")]


def hadolint(text: str) -> tuple[int, list[dict[str, object]]]:
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, json.loads(result.stdout or "[]")


def test_dockerfile_is_hadolint_clean() -> None:
    code, findings = hadolint(DOCKERFILE.read_text())
    assert findings == [], [f"{f['code']} line {f['line']}: {f['message']}" for f in findings]
    assert code == 0


def test_hadolint_does_report_a_bad_dockerfile() -> None:
    code, findings = hadolint("FROM python:latest\nRUN apt-get install curl\n")
    assert code != 0
    assert {"DL3007", "DL3008"} <= {f["code"] for f in findings}


def test_one_dockerfile_has_a_target_per_image_and_no_other_dockerfile_exists() -> None:
    assert set(TARGETS) <= set(stages())
    assert list(ROOT.glob("services/*/Dockerfile")) == []


def test_every_stage_starts_from_the_base_argument_or_an_earlier_stage() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    seen: set[str] = set()
    for stage in stages().values():
        assert stage.base in {"${BASE_IMAGE}"} | seen, f"{stage.name} starts from {stage.base}"
        seen.add(stage.name)
    # No step pulls from a container registry: every COPY --from names a stage of this file.
    sources = re.findall(r"COPY --from=(\S+)", text)
    assert sources and set(sources) <= seen


def test_uv_comes_from_pypi_pinned_to_the_makefile_version() -> None:
    (version,) = re.findall(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    uv = stages()["uv"]
    assert f"UV_VERSION={version}" in uv.get("ARG")
    assert any('"uv==${UV_VERSION}"' in run for run in uv.get("RUN"))
    # The base's CA bundle, for builds behind a TLS-intercepting proxy.
    assert env_of(uv)["UV_SYSTEM_CERTS"] == "1"


@pytest.mark.parametrize(("target", "spec"), sorted(TARGETS.items()))
def test_image_runs_the_spec_command(target: str, spec: ServiceSpec) -> None:
    image = stages()[target]
    (cmd,) = image.get("CMD")
    assert json.loads(cmd) == spec.command(env_of(image))


@pytest.mark.parametrize(("target", "spec"), sorted(TARGETS.items()))
def test_image_sets_the_spec_environment(target: str, spec: ServiceSpec) -> None:
    assert spec.env.items() <= env_of(stages()[target]).items()


@pytest.mark.parametrize(("target", "spec"), sorted(TARGETS.items()))
def test_image_installs_only_its_extra_from_the_lock(target: str, spec: ServiceSpec) -> None:
    syncs = [run for run in deps_stage(target).get("RUN") if "uv sync" in run]
    assert len(syncs) == 2  # dependencies, then the project
    assert all("--frozen" in run and f"--extra {spec.extra}" in run for run in syncs)
    assert all("--all-extras" not in run and run.count("--extra") == 1 for run in syncs)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert spec.extra in extras


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_image_runs_as_the_pod_user(target: str) -> None:
    assert stages()[target].get("USER") == [f"{pod.APP_UID}:{pod.APP_UID}"]
    assert stages()[target].lines[-2:-1] == (f"USER {pod.APP_UID}:{pod.APP_UID}",)


@pytest.mark.parametrize(("target", "spec"), sorted(TARGETS.items()))
def test_image_exposes_the_spec_port(target: str, spec: ServiceSpec) -> None:
    assert stages()[target].get("EXPOSE") == ([str(spec.port)] if spec.port else [])


def test_trainer_image_carries_the_bundled_data_where_minikube_reads_it() -> None:
    trainer = stages()["trainer"]
    assert f"services/data/airline.csv {IMAGE_DATA}" in trainer.get("COPY")
    assert env_of(trainer)["DATA_URI"] == IMAGE_DATA


def test_mlflow_image_keeps_its_store_and_artifacts_under_its_one_volume() -> None:
    mlflow = stages()["mlflow"]
    (volume,) = mlflow.get("VOLUME")
    (path,) = json.loads(volume)
    env = env_of(mlflow)
    assert env["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{path}/mlflow.db"
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith(f"{path}/")


def test_make_images_builds_every_target_under_the_spec_names_and_default_tag() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (images,) = re.findall(r"^IMAGES := (.*)$", makefile, re.M)
    pairs = dict(pair.split(":") for pair in images.split())
    assert pairs == {target: spec.image for target, spec in TARGETS.items()}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    defaults = MinikubeConfig()
    assert {defaults.mlflow_image, defaults.trainer_image, defaults.api_image} == {
        f"{spec.image}:{version}" for spec in (TRACKING, TRAINER, API)
    }


def test_build_context_sends_only_what_the_images_copy() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules.index("**") == 0  # everything is excluded first, then re-included
    allowed = {line[1:] for line in rules if line.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "contract/",
        "services/",
        "infra/",
        "stacks/",
    }
