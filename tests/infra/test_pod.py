"""Containers are built from the service specs, with the hardened defaults around them."""

from __future__ import annotations

import pulumi
import pytest

from contract.api import API
from contract.trainer import DASK_WORKER, TRAINER
from infra import pod


def build(spec, **env: str):  # type: ignore[no-untyped-def]
    return pod.container(
        pod.ContainerArgs(
            spec=spec, image="img:1", pull_policy="Never", env=env, resources=pod.Resources()
        )
    )


def test_container_runs_the_spec_argv_unchanged() -> None:
    container = build(API)
    assert [*container.command, *container.args] == list(API.args)


def test_container_env_carries_spec_defaults_then_overrides() -> None:
    env = {e.name: e.value for e in build(API, PORT="9000", EXTRA="x").env}
    assert env["HOST"] == API.env["HOST"]
    assert env["PORT"] == "9000"
    assert env["EXTRA"] == "x"
    assert env["HOME"] == pod.SCRATCH  # writable, under the scratch volume


def test_container_probes_follow_the_spec_paths_on_the_named_port() -> None:
    container = build(API)
    assert container.ports[0].name == "http" and container.ports[0].container_port == API.port
    assert container.liveness_probe.http_get.path == API.live_path
    assert container.readiness_probe.http_get.path == API.ready_path
    assert container.liveness_probe.http_get.port == "http"


def test_a_spec_without_port_gets_no_ports_and_no_probes() -> None:
    container = build(TRAINER)
    assert container.ports is None
    assert container.liveness_probe is None and container.readiness_probe is None


def test_tcp_ports_are_named_and_probed_by_connecting() -> None:
    tcp = pod.TcpPorts({"worker": 8788, "nanny": 8789}, live="nanny", ready="worker")
    container = pod.container(
        pod.ContainerArgs(
            spec=DASK_WORKER,
            image="img:1",
            pull_policy="Never",
            env={},
            resources=pod.Resources(),
            tcp=tcp,
        )
    )
    assert [(p.name, p.container_port) for p in container.ports] == [
        ("worker", 8788),
        ("nanny", 8789),
    ]
    assert container.startup_probe.tcp_socket.port == "nanny"
    assert container.liveness_probe.tcp_socket.port == "nanny"
    assert container.readiness_probe.tcp_socket.port == "worker"
    assert container.liveness_probe.http_get is None


def test_a_probe_on_an_undeclared_tcp_port_is_refused() -> None:
    with pytest.raises(ValueError, match=r"probed ports \['dask'\] are not among \['worker'\]"):
        pod.TcpPorts({"worker": 8788}, live="dask", ready="worker")


def test_an_http_service_takes_no_tcp_ports() -> None:
    tcp = pod.TcpPorts({"dask": 8786}, live="dask", ready="dask")
    args = pod.ContainerArgs(
        spec=API, image="img:1", pull_policy="Never", env={}, resources=pod.Resources(), tcp=tcp
    )
    with pytest.raises(ValueError, match="api has an HTTP port"):
        pod.container(args)


def test_container_security_is_locked_down() -> None:
    sc = pod.container_security()
    assert sc.run_as_non_root and sc.read_only_root_filesystem
    assert sc.allow_privilege_escalation is False
    assert sc.capabilities.drop == ["ALL"]
    assert sc.seccomp_profile.type == "RuntimeDefault"


def test_pod_security_runs_as_the_image_user_and_owns_volumes() -> None:
    sc = pod.pod_security()
    assert sc.run_as_user == sc.fs_group == pod.APP_UID
    assert sc.run_as_non_root is True


def test_resources_render_requests_and_limits() -> None:
    rendered = pod.Resources(
        cpu_request="1", memory_request="1Gi", cpu_limit="2", memory_limit="2Gi"
    ).to_k8s()
    assert rendered.requests == {"cpu": "1", "memory": "1Gi"}
    assert rendered.limits == {"cpu": "2", "memory": "2Gi"}


def test_env_values_may_be_pulumi_outputs() -> None:
    env = pod.env_list({"B": "2", "A": pulumi.Output.from_input("1")})
    assert [e.name for e in env] == ["A", "B"]


def test_accepted_findings_are_checkov_skip_annotations_its_parser_reads_whole() -> None:
    # checkov splits each value at "=" into the check id and the reason.
    plain, irsa = pod.accepted_findings(), pod.accepted_findings(irsa_token=True)
    for skips in (plain, irsa):
        assert all(key.startswith("checkov.io/skip") for key in skips)
        assert all(value.count("=") == 1 for value in skips.values())
    found = {value.split("=")[0] for value in irsa.values()}
    assert found == {*pod.ACCEPTED_FINDINGS, pod.IRSA_TOKEN_FINDING[0]}
    assert {value.split("=")[0] for value in plain.values()} == set(pod.ACCEPTED_FINDINGS)
