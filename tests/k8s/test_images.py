"""The Dockerfiles: hadolint clean, and built from the same specs and lock the cluster uses.

No Docker engine runs here, so the images are not built; these tests read the Dockerfiles
and check them against `services/spec.py`, the lock file's extras and the stack config.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from infra import pod
from k8s.harness import ROOT
from services.spec import API, DEMO, TRACKING, TRAINER, ServiceSpec
from stacks.config import MinikubeConfig
from stacks.minikube import IMAGE_DATA

DOCKERFILES = {"mlflow": TRACKING, "trainer": TRAINER, "serving": API, "demo": DEMO}
HADOLINT = Path(sys.executable).parent / "hadolint"
# What the MLflow image runs with a bare `docker run`: the spec's argv with these values.
MLFLOW_IMAGE_ENV = {
    "MLFLOW_BACKEND_STORE_URI": "sqlite:////data/mlflow.db",
    "MLFLOW_ARTIFACTS_DESTINATION": "/data/artifacts",
    "MLFLOW_SERVER_ALLOWED_HOSTS": "localhost:*,127.0.0.1:*",
}


def dockerfile(name: str) -> str:
    return (ROOT / "services" / name / "Dockerfile").read_text()


def instructions(text: str, keyword: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        line[len(keyword) + 1 :].strip()
        for line in joined.splitlines()
        if line.startswith(keyword + " ")
    ]


def final_stage(text: str) -> str:
    return text[text.rindex("\nFROM ") :]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_is_hadolint_clean(name: str) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", "-"],
        input=dockerfile(name),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], [f"{f['code']} line {f['line']}: {f['message']}" for f in findings]


def test_hadolint_does_report_a_bad_dockerfile() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", "-"],
        input="FROM python:latest\nRUN apt-get install curl\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert {"DL3007", "DL3008"} <= codes


@pytest.mark.parametrize(("name", "spec"), sorted(DOCKERFILES.items()))
def test_image_runs_the_spec_command(name: str, spec: ServiceSpec) -> None:
    (cmd,) = instructions(final_stage(dockerfile(name)), "CMD")
    env = MLFLOW_IMAGE_ENV if spec is TRACKING else {}
    assert json.loads(cmd) == spec.command(env)


@pytest.mark.parametrize(("name", "spec"), sorted(DOCKERFILES.items()))
def test_image_sets_the_spec_environment(name: str, spec: ServiceSpec) -> None:
    env = dict(
        pair.split("=", 1)
        for line in instructions(final_stage(dockerfile(name)), "ENV")
        for pair in line.split()
    )
    assert spec.env.items() <= env.items()


@pytest.mark.parametrize(("name", "spec"), sorted(DOCKERFILES.items()))
def test_image_installs_only_its_extra_from_the_lock(name: str, spec: ServiceSpec) -> None:
    syncs = instructions(dockerfile(name), "RUN")
    uv = [run for run in syncs if run.startswith("uv sync")]
    assert uv and all("--frozen" in run and f"--extra {spec.extra}" in run for run in uv)
    assert all("--all-extras" not in run for run in uv)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert spec.extra in extras


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_image_is_slim_and_runs_as_the_pod_user(name: str) -> None:
    text = dockerfile(name)
    assert all("slim" in base for base in instructions(text, "FROM"))
    (user,) = instructions(final_stage(text), "USER")
    assert user == f"{pod.APP_UID}:{pod.APP_UID}"


@pytest.mark.parametrize(("name", "spec"), sorted(DOCKERFILES.items()))
def test_image_exposes_the_spec_port(name: str, spec: ServiceSpec) -> None:
    exposed = instructions(final_stage(dockerfile(name)), "EXPOSE")
    assert exposed == ([str(spec.port)] if spec.port else [])


def test_trainer_image_carries_the_bundled_data_where_minikube_reads_it() -> None:
    copies = instructions(final_stage(dockerfile("trainer")), "COPY")
    assert f"services/data/airline.csv {IMAGE_DATA}" in copies


def test_make_images_builds_every_dockerfile_under_the_spec_names_and_default_tag() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (images,) = re.findall(r"^IMAGES := (.*)$", makefile, re.M)
    pairs = dict(pair.split(":") for pair in images.split())
    assert pairs == {name: spec.image for name, spec in DOCKERFILES.items()}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    defaults = MinikubeConfig()
    assert {defaults.mlflow_image, defaults.trainer_image, defaults.api_image} == {
        f"{spec.image}:{version}" for spec in (TRACKING, TRAINER, API)
    }


def test_build_context_sends_only_what_the_images_copy() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("**")] == "**"  # everything is excluded first
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "services/", "infra/", "stacks/"}
