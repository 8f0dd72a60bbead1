"""Reading the PromQL out of the alert rules and dashboards, and the metric names it selects."""

from __future__ import annotations

import re
from dataclasses import dataclass

import promql_parser

import monitoring

# Grafana fills these in before Prometheus sees a query; any window works for parsing.
GRAFANA_VARIABLES = ("$__rate_interval", "$__interval", "$__range")


@dataclass(frozen=True)
class Query:
    source: str  # "alert MlstackApiDown" or "api.json / Error ratio / B"
    expr: str


def as_promql(expr: str, window: str = "5m") -> str:
    """A dashboard query as Prometheus receives it, with Grafana's variables filled in."""
    for variable in GRAFANA_VARIABLES:
        expr = expr.replace(variable, window)
    return expr


def alert_queries() -> list[Query]:
    return [
        Query(
            f"alert {rule['alert']}" if "alert" in rule else f"record {rule['record']}",
            rule["expr"],
        )
        for group in monitoring.rule_groups()
        for rule in group["rules"]
    ]


def dashboard_queries(window: str = "5m") -> list[Query]:
    return [
        Query(f"{name} / {panel['title']} / {target['refId']}", as_promql(target["expr"], window))
        for name, board in monitoring.dashboard_models().items()
        for panel in board["panels"]
        for target in panel.get("targets", [])  # a row heading has none
    ]


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every series selector in `expr`, including those inside range vectors."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr) if s.name}


def label_value(selector: promql_parser.VectorSelector, label: str) -> str | None:
    """The value an equality matcher requires for `label`, or None when there is none."""
    for matcher in selector.matchers.matchers:
        if matcher.name == label and matcher.op == promql_parser.MatchOp.Equal:
            return str(matcher.value)
    return None


def anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")
