"""How a Deployment of several replicas rolls, spreads and survives node drains: shared by the API
and a replicated MLflow, so both keep serving through a rollout or a drain."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

ZONE = "topology.kubernetes.io/zone"
NODE = "kubernetes.io/hostname"


def rolling_update() -> k8s.apps.v1.DeploymentStrategyArgs:
    """One new pod at a time, and an old one stops only once its replacement is ready."""
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
    )


def spread(selector: Mapping[str, str]) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Replicas across zones (required: a zone's loss leaves the others), then across nodes
    (preferred: a small cluster may have fewer nodes than replicas)."""
    match = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1, topology_key=key, when_unsatisfiable=rule, label_selector=match
        )
        for key, rule in ((ZONE, "DoNotSchedule"), (NODE, "ScheduleAnyway"))
    ]


def disruption_budget(
    name: str,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    selector: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    """At most one replica evicted at a time. maxUnavailable rather than minAvailable: with one
    replica a node drain still proceeds."""
    return k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata=metadata,
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        ),
        opts=opts,
    )
