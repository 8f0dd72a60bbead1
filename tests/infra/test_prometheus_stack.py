"""The Monitoring component under Pulumi's mocks, next to the real Serving component."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from k8s.harness import Recorded, Recorder, is_secret, mocks, unsecret

import monitoring as files
from contract.api import ApiEnv
from infra.prometheus_stack import (
    CHART,
    CHART_REPO,
    DASHBOARD_LABEL,
    Monitoring,
    MonitoringArgs,
    chart_values,
)
from infra.serving import Serving, ServingArgs

API_NS = "mlstack"
PASSWORD = "s3cret-for-grafana"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


@dataclass
class Declared:
    recorder: Recorder
    outputs: dict[str, Any]

    def of(self, typ: str) -> list[Recorded]:
        return [r for r in self.recorder.resources if r.typ == typ]

    def one(self, typ: str) -> dict[str, Any]:
        (found,) = self.of(typ)
        return unsecret(found.inputs)

    def values(self) -> dict[str, Any]:
        return dict(self.one(RELEASE)["values"])


def declare(args: MonitoringArgs | None = None, with_serving: bool = True) -> Declared:
    """Run the Serving and Monitoring components as the workload set wires them."""
    recorder = Recorder()
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> Any:
        if with_serving:
            Serving(
                "t",
                ServingArgs(
                    namespace=API_NS,
                    image="api:1",
                    pull_policy="Never",
                    env=ApiEnv(mlflow_tracking_uri="http://mlflow:5000", model_name="M"),
                ),
            )
        password = pulumi.Output.secret(PASSWORD)
        component = Monitoring("mon", args or MonitoringArgs(password, api_namespace=API_NS))
        return pulumi.Output.all(
            namespace=component.namespace,
            grafana_service=component.grafana_service,
            prometheus_service=component.prometheus_service,
        ).apply(outputs.update)

    with mocks(recorder, "unit"):
        program()
    return Declared(recorder, outputs)


@pytest.fixture(scope="module")
def declared() -> Declared:
    return declare()


def test_service_monitor_selects_the_api_service_by_its_labels_and_named_port(
    declared: Declared,
) -> None:
    (service,) = [
        r
        for r in declared.of("kubernetes:core/v1:Service")
        if r.inputs["metadata"]["namespace"] == API_NS
    ]
    service_meta, service_spec = service.inputs["metadata"], service.inputs["spec"]
    monitor = declared.one(SERVICE_MONITOR)
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"].items() <= service_meta["labels"].items()
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service_spec["ports"]}
    assert endpoint["path"] == "/metrics"
    assert spec["namespaceSelector"] == {"matchNames": [API_NS]}
    assert monitor["metadata"]["namespace"] == API_NS


def test_the_chart_s_prometheus_selects_the_service_monitor_and_the_rule(
    declared: Declared,
) -> None:
    release = declared.one(RELEASE)
    prometheus = declared.values()["prometheus"]["prometheusSpec"]
    for typ, selector in (
        (SERVICE_MONITOR, "serviceMonitorSelector"),
        (PROMETHEUS_RULE, "ruleSelector"),
    ):
        wanted = prometheus[selector]["matchLabels"]
        assert wanted == {"release": release["name"]}  # the release label, spelled out
        assert wanted.items() <= declared.one(typ)["metadata"]["labels"].items(), typ
        assert prometheus[selector.replace("Selector", "NamespaceSelector")] == {}  # any ns


def test_service_monitor_relabels_targets_to_the_job_the_rules_select(
    declared: Declared,
) -> None:
    (endpoint,) = declared.one(SERVICE_MONITOR)["spec"]["endpoints"]
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": files.API_JOB}
    ]


def test_dashboard_config_maps_carry_the_sidecar_label_and_the_checked_in_json(
    declared: Declared,
) -> None:
    sidecar = declared.values()["grafana"]["sidecar"]["dashboards"]
    maps = [unsecret(r.inputs) for r in declared.of(CONFIG_MAP)]
    assert {name for m in maps for name in m["data"]} == set(files.dashboards())
    for config_map in maps:
        labels = config_map["metadata"]["labels"]
        assert labels[sidecar["label"]] == sidecar["labelValue"] == "1"
        assert labels[DASHBOARD_LABEL] == "1"
        ((name, text),) = config_map["data"].items()
        assert text == files.dashboards()[name]
        assert json.loads(text)["uid"]
    assert sidecar["enabled"] is True


def test_grafana_s_sidecar_reads_its_own_namespace_with_a_role_not_a_cluster_role(
    declared: Declared,
) -> None:
    grafana = declared.values()["grafana"]
    # The chart's own defaults are `searchNamespace: ALL` and a ClusterRole reading every Secret.
    assert grafana["rbac"]["namespaced"] is True
    namespace = declared.outputs["namespace"]
    assert grafana["sidecar"]["dashboards"]["searchNamespace"] == namespace
    # Where the dashboards are, so the sidecar still finds them.
    maps = [unsecret(r.inputs) for r in declared.of(CONFIG_MAP)]
    assert maps and {m["metadata"]["namespace"] for m in maps} == {namespace}


def test_prometheus_rule_holds_the_groups_of_the_rule_file(declared: Declared) -> None:
    rule = declared.one(PROMETHEUS_RULE)
    assert rule["spec"]["groups"] == files.rule_groups()
    assert rule["metadata"]["namespace"] == "monitoring"


def test_the_release_pins_chart_version_repo_and_name(declared: Declared) -> None:
    release = declared.one(RELEASE)
    assert release["chart"] == CHART
    assert release["version"] == MonitoringArgs("x", api_namespace="n").chart_version
    assert release["repositoryOpts"] == {"repo": CHART_REPO}
    assert release["name"] == "kube-prometheus-stack"  # fixed: never Pulumi's random suffix
    assert release["namespace"] == "monitoring"


def test_grafana_admin_password_reaches_the_chart_only_as_a_secret(declared: Declared) -> None:
    (release,) = declared.of(RELEASE)
    values = release.inputs["values"]
    assert declared.values()["grafana"]["adminPassword"] == PASSWORD
    # Pulumi marks the whole values map secret once any part of it is.
    assert is_secret(values) or is_secret(values["grafana"]["adminPassword"])


def test_custom_resources_wait_for_the_chart_that_installs_their_crds(
    declared: Declared,
) -> None:
    (release,) = declared.of(RELEASE)
    for typ in (SERVICE_MONITOR, PROMETHEUS_RULE):
        (resource,) = declared.of(typ)
        waits_on = declared.recorder.dependencies[(resource.typ, resource.name)]
        assert any(urn.endswith(f"::{release.name}") for urn in waits_on), typ


def test_component_registers_namespace_and_service_names(declared: Declared) -> None:
    assert declared.outputs == {
        "namespace": "monitoring",
        "grafana_service": "kube-prometheus-stack-grafana",
        "prometheus_service": "kube-prometheus-stack-prometheus",
    }


def test_the_monitoring_namespace_is_not_restricted_because_node_exporter_uses_the_host(
    declared: Declared,
) -> None:
    (ns,) = [unsecret(r.inputs) for r in declared.of("kubernetes:core/v1:Namespace")]
    assert ns["metadata"]["name"] == "monitoring"
    assert "pod-security.kubernetes.io/enforce" not in ns["metadata"]["labels"]


def test_standard_size_keeps_more_history_and_gets_more_resources_than_small() -> None:
    small = chart_values(MonitoringArgs("x", api_namespace="n", size="small"))
    standard = chart_values(MonitoringArgs("x", api_namespace="n", size="standard"))
    small_prom = small["prometheus"]["prometheusSpec"]
    standard_prom = standard["prometheus"]["prometheusSpec"]
    assert (small_prom["retention"], standard_prom["retention"]) == ("1d", "15d")
    assert small_prom["resources"]["requests"]["memory"] == "256Mi"
    assert standard_prom["resources"]["requests"]["memory"] == "2Gi"


def test_control_plane_scrapes_the_clusters_do_not_expose_are_off() -> None:
    values = chart_values(MonitoringArgs("x", api_namespace="n"))
    for part in ("kubeEtcd", "kubeControllerManager", "kubeScheduler", "kubeProxy"):
        assert values[part] == {"enabled": False}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"chart_version": "79.x"}, "must be exact"),
        ({"chart_version": ">=79"}, "must be exact"),
        ({"release_name": "a-release-name-longer-than-26"}, "<= 26"),
        ({"release_name": "Upper"}, "DNS label"),
        ({"size": "huge"}, "one of"),
        ({"api_selector": {}}, "every Service"),
    ],
)
def test_monitoring_args_refuse_bad_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MonitoringArgs("x", api_namespace="n", **overrides)
