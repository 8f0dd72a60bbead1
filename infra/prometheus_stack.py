"""Monitoring: kube-prometheus-stack, the API's ServiceMonitor, dashboards and alert rules.

Dashboards and rules are read from `monitoring/`, the files promtool and the
local stack use too, so the cluster never runs a copy that drifted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

import monitoring as files
from contract.api import API
from infra import pod
from infra.naming import PART_OF, labels, res_name, selector_labels

CHART = "kube-prometheus-stack"
CHART_REPO = "https://prometheus-community.github.io/helm-charts"
CHART_VERSION = "79.10.0"
NAMESPACE = "monitoring"  # Prometheus's, which the API's NetworkPolicy admits
DASHBOARD_LABEL = "grafana_dashboard"  # what the chart's Grafana sidecar watches for
Size = Literal["small", "standard"]
_SEMVER = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Sizing:
    retention: str
    retention_size: str
    prometheus: pod.Resources
    grafana: pod.Resources
    small_parts: pod.Resources  # operator, alertmanager, kube-state-metrics, node-exporter


SIZES: Mapping[Size, Sizing] = {
    # minikube: a laptop shares a few GB between the whole stack.
    "small": Sizing(
        retention="1d",
        retention_size="1GB",
        prometheus=pod.Resources("100m", "256Mi", "1", "1Gi"),
        grafana=pod.Resources("50m", "128Mi", "500m", "256Mi"),
        small_parts=pod.Resources("10m", "32Mi", "200m", "128Mi"),
    ),
    "standard": Sizing(
        retention="15d",
        retention_size="20GB",
        prometheus=pod.Resources("500m", "2Gi", "2", "4Gi"),
        grafana=pod.Resources("100m", "256Mi", "1", "512Mi"),
        small_parts=pod.Resources("50m", "64Mi", "500m", "256Mi"),
    ),
}


@dataclass(frozen=True)
class MonitoringArgs:
    grafana_admin_password: pulumi.Input[str]  # pass a Pulumi secret: it lands in chart values
    api_namespace: pulumi.Input[str]
    api_selector: Mapping[str, str] = field(
        default_factory=lambda: selector_labels(API.name, "serving")
    )
    api_port_name: str = "http"  # the API Service's named port (infra/serving.py)
    namespace: str = NAMESPACE
    release_name: str = CHART
    chart_version: str = CHART_VERSION
    size: Size = "small"
    scrape_interval: str = "15s"
    # The accuracy alerts' settings (recording rules of monitoring/alerts.yaml, same defaults).
    forecast_degradation_ratio: float = 1.5
    score_max_age_seconds: int = 6 * 3600

    def __post_init__(self) -> None:
        if not _SEMVER.match(self.chart_version):
            raise ValueError(f"chart_version '{self.chart_version}' must be exact, e.g. 79.10.0")
        # The chart truncates its full name to 26 characters; longer names change Service names.
        if not _DNS_LABEL.match(self.release_name) or len(self.release_name) > 26:
            raise ValueError(f"release_name '{self.release_name}' must be a DNS label of <= 26")
        if self.size not in SIZES:
            raise ValueError(f"size '{self.size}' must be one of {sorted(SIZES)}")
        if not self.api_selector:
            raise ValueError("api_selector must not be empty: it would select every Service")
        if self.forecast_degradation_ratio < 1:
            raise ValueError(
                f"forecast_degradation_ratio {self.forecast_degradation_ratio} must be >= 1"
            )
        if self.score_max_age_seconds <= 0:
            raise ValueError(f"score_max_age_seconds {self.score_max_age_seconds} must be > 0")


def _resources(r: pod.Resources) -> dict[str, Any]:
    return {
        "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
        "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
    }


def grafana_access(namespace: str) -> dict[str, Any]:
    """Grafana's sidecar loads dashboards (ConfigMaps labelled grafana_dashboard="1", ours among
    them) from Grafana's own namespace only, so a Role there is all it gets. The chart's defaults
    (`searchNamespace: ALL`, no `rbac.namespaced`) give it a ClusterRole that reads every
    ConfigMap and Secret of the cluster. terraform/monitoring.tf sets the same."""
    dashboards = {
        "enabled": True,
        "label": DASHBOARD_LABEL,
        "labelValue": "1",
        "searchNamespace": namespace,
    }
    return {"rbac": {"namespaced": True}, "sidecar": {"dashboards": dashboards}}


def selected_by_chart(release_name: str) -> dict[str, str]:
    """The labels the chart's Prometheus selects ServiceMonitors and PrometheusRules by."""
    return {"release": release_name}


def chart_values(args: MonitoringArgs) -> dict[str, Any]:
    """The kube-prometheus-stack values: sized for the target, selectors spelled out."""
    size = SIZES[args.size]
    small = _resources(size.small_parts)
    selector = {"matchLabels": selected_by_chart(args.release_name)}
    return {
        "fullnameOverride": args.release_name,  # Service names: <release>-prometheus, ...
        # Neither EKS nor minikube exposes these control-plane components to scrape.
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheusOperator": {"resources": small},
        "alertmanager": {"alertmanagerSpec": {"resources": small}},
        "kube-state-metrics": {"resources": small},
        "prometheus-node-exporter": {"resources": small},
        "prometheus": {
            "prometheusSpec": {
                "retention": size.retention,
                "retentionSize": size.retention_size,
                "scrapeInterval": args.scrape_interval,
                "resources": _resources(size.prometheus),
                # Explicit rather than the chart's implicit default: select by `release` label,
                # in every namespace; our ServiceMonitor and PrometheusRule carry that label.
                "serviceMonitorSelector": selector,
                "serviceMonitorNamespaceSelector": {},
                "ruleSelector": selector,
                "ruleNamespaceSelector": {},
            }
        },
        "grafana": {
            "adminPassword": args.grafana_admin_password,
            "resources": _resources(size.grafana),
            **grafana_access(args.namespace),
        },
    }


class Monitoring(pulumi.ComponentResource):
    """Namespace, kube-prometheus-stack Helm release, ServiceMonitor for the API, one ConfigMap
    per dashboard (sidecar label), and a PrometheusRule holding the alert rule file's groups."""

    release: k8s.helm.v3.Release
    service_monitor: k8s.apiextensions.CustomResource
    rule: k8s.apiextensions.CustomResource
    dashboards: list[k8s.core.v1.ConfigMap]
    namespace: pulumi.Output[str]
    grafana_service: pulumi.Output[str]
    prometheus_service: pulumi.Output[str]

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name, self._args = name, args
        # Not the restricted namespace of the workloads: node-exporter needs the host network.
        ns = k8s.core.v1.Namespace(
            res_name(name, "ns"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels={"app.kubernetes.io/part-of": PART_OF}
            ),
            opts=child,
        )
        self.namespace = ns.metadata.name
        self.release = k8s.helm.v3.Release(
            res_name(name, "stack"),
            k8s.helm.v3.ReleaseArgs(
                name=args.release_name,  # fixed, never auto-named: selectors use it
                chart=CHART,
                version=args.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
                namespace=self.namespace,
                values=chart_values(args),
                timeout=900,
            ),
            opts=child,
        )
        # Custom resources need the chart's CRDs, so they wait for the release.
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.release])
        self.service_monitor = self._service_monitor(after)
        self.rule = self._rule(after)
        boards = files.dashboards().items()
        self.dashboards = [self._dashboard(f, text, child) for f, text in boards]
        self.grafana_service = pulumi.Output.from_input(f"{args.release_name}-grafana")
        self.prometheus_service = pulumi.Output.from_input(f"{args.release_name}-prometheus")
        self.register_outputs(
            {
                "namespace": self.namespace,
                "grafana_service": self.grafana_service,
                "prometheus_service": self.prometheus_service,
            }
        )

    def _meta(
        self, role: str, namespace: pulumi.Input[str], extra: Mapping[str, str] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=res_name(self._name, role),
            namespace=namespace,
            labels={
                **labels(API.name, "monitoring"),
                **selected_by_chart(self._args.release_name),
                **(extra or {}),
            },
        )

    def _service_monitor(self, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        args = self._args
        endpoint = {
            "port": args.api_port_name,
            "path": "/metrics",
            "interval": args.scrape_interval,
            # Rules and dashboards select `job="mlstack-api"` on every target.
            "relabelings": [
                {"action": "replace", "targetLabel": "job", "replacement": files.API_JOB}
            ],
        }
        return k8s.apiextensions.CustomResource(
            res_name(self._name, "api-monitor"),
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=self._meta("api", args.api_namespace),
            spec={
                "selector": {"matchLabels": dict(args.api_selector)},
                "namespaceSelector": {"matchNames": [args.api_namespace]},
                "endpoints": [endpoint],
            },
            opts=opts,
        )

    def _rule(self, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            res_name(self._name, "api-rules"),
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=self._meta("api-rules", self.namespace),
            spec={
                "groups": files.rule_groups(
                    self._args.forecast_degradation_ratio, self._args.score_max_age_seconds
                )
            },
            opts=opts,
        )

    def _dashboard(
        self, filename: str, text: str, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.ConfigMap:
        role = "dashboard-" + filename.removesuffix(".json")
        return k8s.core.v1.ConfigMap(
            res_name(self._name, role),
            # The label value is the string "1": the sidecar compares strings.
            metadata=self._meta(role, self.namespace, {DASHBOARD_LABEL: "1"}),
            data={filename: text},
            opts=opts,
        )
