"""Every Kubernetes object the program declares, rendered to YAML, is valid and scanned.

Validation uses the Kubernetes JSON schema of the stack's configured version (strict: unknown
fields fail); the scan is checkov's Kubernetes framework, run in-process over the rendered files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from k8s.harness import ROOT, Graph, Recorded, eks, minikube
from stacks.config import parse

GRAPHS = {"minikube": minikube, "eks": eks}
# Custom resources of the Prometheus operator: Kubernetes' own schema has no entry for them.
# Their shape is tested with the monitoring component (tests/monitoring/).
CRD_GROUPS = ("monitoring.coreos.com/",)

# Checkov findings we accept, each with its reason; anything else fails the scan.
ACCEPTED: dict[str, str] = {
    "CKV_K8S_43": "images are pinned by tag, and the config refuses untagged and `latest` "
    "references; digests are accepted too, but images built into minikube have none",
    "CKV_K8S_15": "minikube must never pull (images are built into the node); on EKS the tags are "
    "pinned and immutable, so IfNotPresent pulls exactly once per node",
}
# Service account tokens are mounted only where IRSA needs one to assume its role.
IRSA_TOKEN = ("CKV_K8S_38", ("Deployment.mlstack.mlstack-mlflow", "Job.mlstack.mlstack-trainer-"))


def version(stack: str) -> str:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return (
        raw.get("mlflow-serving-stack:kubernetes_version")
        or parse({"target": "minikube"}).kubernetes_version
    )


def manifest_id(obj: Recorded) -> str:
    meta = obj.manifest["metadata"]
    return f"{obj.manifest['kind']}/{meta.get('namespace', '-')}/{meta['name']}"


def render(graph: Graph, root: Path) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for obj in graph.kubernetes_objects():
        path = root / (manifest_id(obj).replace("/", "_") + ".yaml")
        path.write_text(yaml.safe_dump(obj.manifest, sort_keys=False))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    for stack, graph in GRAPHS.items():
        render(graph(), root / stack)
    return root


@pytest.mark.parametrize("stack", sorted(GRAPHS))
def test_rendered_yaml_round_trips_to_the_declared_objects(stack: str, rendered: Path) -> None:
    files = sorted((rendered / stack).glob("*.yaml"))
    objects = GRAPHS[stack]().kubernetes_objects()
    assert len(files) == len(objects) > 10
    loaded = {manifest_id(Recorded("", "", yaml.safe_load(f.read_text()))) for f in files}
    assert loaded == {manifest_id(o) for o in objects}


@pytest.mark.parametrize("stack", sorted(GRAPHS))
def test_every_object_validates_against_the_configured_kubernetes_schema(
    stack: str, rendered: Path
) -> None:
    target = version(stack) + ".0"
    checked = 0
    for path in sorted((rendered / stack).glob("*.yaml")):
        manifest: dict[str, Any] = yaml.safe_load(path.read_text())
        if manifest["apiVersion"].startswith(CRD_GROUPS):
            continue
        try:
            kubernetes_validate.validate(manifest, target, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{path.name}: {err.message} at {list(err.path)}")
        checked += 1
    assert checked >= 15


@pytest.fixture(scope="module")
def scan(rendered: Path) -> Any:
    from checkov.kubernetes.runner import Runner
    from checkov.runner_filter import RunnerFilter

    return Runner().run(
        root_folder=str(rendered), runner_filter=RunnerFilter(framework=["kubernetes"])
    )


def _accepted(check: Any) -> bool:
    if check.check_id in ACCEPTED:
        return True
    check_id, resources = IRSA_TOKEN
    return (
        check.check_id == check_id
        and check.file_path.startswith("/eks/")
        and check.resource.startswith(resources)
    )


def test_checkov_finds_nothing_beyond_the_accepted_findings(scan: Any) -> None:
    assert scan.get_summary()["parsing_errors"] == 0
    assert scan.get_summary()["resource_count"] >= 30
    unexpected = [
        f"{c.check_id} {c.resource} ({c.file_path}): {c.check_name}"
        for c in scan.failed_checks
        if not _accepted(c)
    ]
    assert unexpected == []


def test_service_account_tokens_are_mounted_only_on_eks_irsa_workloads(scan: Any) -> None:
    mounted = {
        (c.file_path.split("/")[1], c.resource)
        for c in scan.failed_checks
        if c.check_id == "CKV_K8S_38"
    }
    assert {stack for stack, _ in mounted} == {"eks"}
    assert {r.rsplit("-", 1)[0] if r.startswith("Job.") else r for _, r in mounted} == {
        "Deployment.mlstack.mlstack-mlflow",
        "Job.mlstack.mlstack-trainer",
    }


def test_checkov_checks_the_security_contexts_and_passes_them(scan: Any) -> None:
    passed = {c.check_id for c in scan.passed_checks}
    # Non-root, no privilege escalation, read-only root, capabilities, seccomp, limits, probes.
    assert {
        "CKV_K8S_23",
        "CKV_K8S_20",
        "CKV_K8S_22",
        "CKV_K8S_28",
        "CKV_K8S_37",
        "CKV_K8S_31",
        "CKV_K8S_11",
        "CKV_K8S_13",
        "CKV_K8S_8",
        "CKV_K8S_9",
    } <= passed
