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

from infra import pod
from k8s.harness import (
    EKS_PUBLIC,
    EKS_SETTINGS,
    ROOT,
    TOKEN,
    Graph,
    Recorded,
    eks,
    minikube,
    program,
)
from stacks.loading import parse

GRAPHS = {"minikube": minikube, "eks": eks}
# Custom resources of the Prometheus operator: Kubernetes' own schema has no entry for them.
# Their shape is tested with the monitoring component (tests/monitoring/).
CRD_GROUPS = ("monitoring.coreos.com/",)

WORKLOADS = ("Deployment", "Job", "CronJob")
# Service account tokens are mounted only where IRSA needs one to assume its role.
IRSA_WORKLOADS = {"Deployment.mlstack.mlstack-mlflow", "Job.mlstack.mlstack-trainer"}


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


def scheduled() -> Graph:
    """Minikube with a retraining schedule, for its CronJob."""
    return program("minikube", {"trainer_schedule": "0 3 * * 0"})


# Each stack with a Dask cluster for the trainer, for the cluster's objects.
DASK = {
    "dask-minikube": lambda: program("minikube", {"trainer_workers": 3}),
    "dask-eks": lambda: program("eks", {**EKS_SETTINGS, "trainer_workers": 3}),
}
# Each stack with public access on (tests/stacks/test_public_access.py), for what it adds.
PUBLIC = {
    "public-minikube": lambda: program("minikube", {"public_access": True}, TOKEN),
    "public-eks": lambda: program("eks", EKS_PUBLIC, TOKEN),
}
# The renders holding only what a config adds, each with the stack whose version validates it.
EXTRA_RENDERS = {
    "scheduled": "minikube",
    "dask-minikube": "minikube",
    "dask-eks": "eks",
    "public-minikube": "minikube",
    "public-eks": "eks",
}


def dask_objects(graph: Graph) -> list[Recorded]:
    return [o for o in graph.kubernetes_objects() if "dask" in o.manifest["metadata"]["name"]]


def public_objects(graph: Graph) -> list[Recorded]:
    """What public access adds: the Ingress, its NetworkPolicy and the TLS Secret. (The API's
    Deployment it changes on EKS is validated below: with a token set, checkov flags the token's
    env var, CKV_K8S_35, as it would without public access.)"""
    names = ("-public", "-tls")
    return [o for o in graph.kubernetes_objects() if o.manifest["metadata"]["name"].endswith(names)]


def test_the_draining_api_deployment_of_public_eks_validates_against_the_schema() -> None:
    graph = PUBLIC["public-eks"]()
    (api,) = [o for o in graph.of_type("kubernetes:apps/v1:Deployment") if o.name == "mlstack-api"]
    kubernetes_validate.validate(api.manifest, version("eks") + ".0", strict=True)
    (main,) = api.manifest["spec"]["template"]["spec"]["containers"]
    assert "preStop" in main["lifecycle"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    for stack, graph in GRAPHS.items():
        render(graph(), root / stack)
    # The CronJob only: every other object of that run is rendered above.
    cron = [o for o in scheduled().kubernetes_objects() if o.typ == "kubernetes:batch/v1:CronJob"]
    render(Graph(cron), root / "scheduled")
    for name, graph in DASK.items():
        render(Graph(dask_objects(graph())), root / name)
    for name, graph in PUBLIC.items():
        render(Graph(public_objects(graph())), root / name)
    return root


def test_the_public_renders_hold_the_ingress_and_its_policy(rendered: Path) -> None:
    for name in PUBLIC:
        kinds = {yaml.safe_load(f.read_text())["kind"] for f in (rendered / name).glob("*.yaml")}
        assert {"Ingress", "NetworkPolicy"} <= kinds


@pytest.mark.parametrize("stack", sorted(GRAPHS))
def test_rendered_yaml_round_trips_to_the_declared_objects(stack: str, rendered: Path) -> None:
    files = sorted((rendered / stack).glob("*.yaml"))
    objects = GRAPHS[stack]().kubernetes_objects()
    assert len(files) == len(objects) > 10
    loaded = {manifest_id(Recorded("", "", yaml.safe_load(f.read_text()))) for f in files}
    assert loaded == {manifest_id(o) for o in objects}


def test_the_dask_renders_hold_the_whole_cluster(rendered: Path) -> None:
    for name in DASK:
        kinds = sorted(
            yaml.safe_load(f.read_text())["kind"] for f in (rendered / name).glob("*.yaml")
        )
        assert kinds == [
            "Deployment",
            "Deployment",
            "NetworkPolicy",
            "NetworkPolicy",
            "Service",
            "ServiceAccount",
        ]


@pytest.mark.parametrize("render_dir", sorted([*GRAPHS, *EXTRA_RENDERS]))
def test_every_object_validates_against_the_configured_kubernetes_schema(
    render_dir: str, rendered: Path
) -> None:
    stack = EXTRA_RENDERS.get(render_dir, render_dir)
    target = version(stack) + ".0"
    checked = 0
    for path in sorted((rendered / render_dir).glob("*.yaml")):
        manifest: dict[str, Any] = yaml.safe_load(path.read_text())
        if manifest["apiVersion"].startswith(CRD_GROUPS):
            continue
        try:
            kubernetes_validate.validate(manifest, target, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{path.name}: {err.message} at {list(err.path)}")
        checked += 1
    assert checked >= (15 if render_dir in GRAPHS else 1)


@pytest.fixture(scope="module")
def scan(rendered: Path) -> Any:
    # As a user scans the manifests: no skip list; accepted findings are the objects' own
    # `checkov.io/skip<n>` annotations (infra/pod.py).
    from checkov.kubernetes.runner import Runner
    from checkov.runner_filter import RunnerFilter

    return Runner().run(
        root_folder=str(rendered), runner_filter=RunnerFilter(framework=["kubernetes"])
    )


def _workload(resource: str) -> str:
    """`Job.mlstack.mlstack-trainer-<suffix>` -> `Job.mlstack.mlstack-trainer`."""
    return resource.rsplit("-", 1)[0] if resource.startswith("Job.") else resource


@pytest.mark.slow  # checkov over every render
def test_checkov_finds_nothing_in_the_rendered_manifests(scan: Any) -> None:
    assert scan.get_summary()["parsing_errors"] == 0
    assert scan.get_summary()["resource_count"] >= 30
    failed = [
        f"{c.check_id} {c.resource} ({c.file_path}): {c.check_name}" for c in scan.failed_checks
    ]
    assert failed == []


def test_every_accepted_finding_is_an_annotation_of_its_workload_with_a_reason(
    scan: Any,
) -> None:
    accepted = {
        **pod.ACCEPTED_FINDINGS,
        **dict([pod.IRSA_TOKEN_FINDING, pod.SECRET_ENV_FINDING]),
    }
    skipped = scan.skipped_checks
    assert {c.check_id for c in skipped} == set(accepted)
    for check in skipped:
        assert check.resource.startswith(WORKLOADS), check.resource
        assert check.check_result["suppress_comment"] == accepted[check.check_id], check.resource
        assert len(accepted[check.check_id].split()) >= 6, check.check_id
    # Each workload of each render carries the findings every workload accepts; the CronJob too.
    workloads = {(c.file_path, c.resource) for c in skipped}
    assert any(path.startswith("/scheduled/") for path, _ in workloads)
    for path, resource in workloads:
        ids = {c.check_id for c in skipped if (c.file_path, c.resource) == (path, resource)}
        assert ids >= set(pod.ACCEPTED_FINDINGS), f"{resource} ({path}) skips only {ids}"


def test_service_account_tokens_are_mounted_only_on_eks_irsa_workloads(scan: Any) -> None:
    token = pod.IRSA_TOKEN_FINDING[0]
    accepted = {
        (c.file_path.split("/")[1], _workload(c.resource))
        for c in scan.skipped_checks
        if c.check_id == token
    }
    assert accepted == {("eks", workload) for workload in IRSA_WORKLOADS}
    # Everywhere else checkov checks that no token is mounted, and it passes.
    checked = {
        (c.file_path.split("/")[1], _workload(c.resource))
        for c in scan.passed_checks
        if c.check_id == token
    }
    assert ("minikube", "Deployment.mlstack.mlstack-mlflow") in checked
    assert ("eks", "Deployment.mlstack.mlstack-api") in checked
    assert not checked & accepted


# The workloads whose programs read a password from a Secret as a variable (they read no file
# for it): MLflow its users' (and on eks its database URI), the trainer's Job and CronJobs and
# the API their MLflow identity.
SECRET_READERS = ("mlstack-mlflow", "mlstack-trainer", "mlstack-api")


def test_a_secret_as_a_variable_is_accepted_only_where_a_program_reads_a_password(
    scan: Any,
) -> None:
    check = pod.SECRET_ENV_FINDING[0]
    accepted = {
        (c.file_path.split("/")[1], c.resource) for c in scan.skipped_checks if c.check_id == check
    }
    assert {
        (target, f"Deployment.mlstack.mlstack-{name}")
        for target in ("minikube", "eks")
        for name in ("mlflow", "api")
    } <= accepted
    others = {(t, r) for t, r in accepted if not r.split(".")[-1].startswith(SECRET_READERS)}
    assert others == set()
    # Every other workload passes the check.
    passed = {
        (c.file_path.split("/")[1], c.resource) for c in scan.passed_checks if c.check_id == check
    }
    assert passed
    assert not {r for _, r in passed if r.split(".")[-1].startswith(SECRET_READERS)}


@pytest.mark.slow
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


@pytest.mark.slow
def test_checkov_scans_the_dask_cluster_and_passes_its_probes_and_security(scan: Any) -> None:
    for render_dir in DASK:
        for workload in ("mlstack-dask-scheduler", "mlstack-dask-worker"):
            resource = f"Deployment.mlstack.{workload}"
            passed = {
                c.check_id
                for c in scan.passed_checks
                if c.resource == resource and c.file_path.startswith(f"/{render_dir}/")
            }
            # Liveness and readiness probes, read-only root, non-root, limits, no token.
            assert {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_11"} <= (
                passed
            ), f"{resource} ({render_dir}) passed only {sorted(passed)}"
            assert "CKV_K8S_38" in passed
