"""Names and labels shared by every component, so selectors and names never drift apart."""

from __future__ import annotations

PART_OF = "mlflow-serving-stack"


def res_name(prefix: str, role: str) -> str:
    """The Pulumi and Kubernetes name of one resource: `<prefix>-<role>`."""
    return f"{prefix}-{role}"


def labels(app: str, component: str) -> dict[str, str]:
    """The `app.kubernetes.io/*` label set; `selector_labels` is the stable subset."""
    return {**selector_labels(app, component), "app.kubernetes.io/part-of": PART_OF}


def selector_labels(app: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/component": component}
