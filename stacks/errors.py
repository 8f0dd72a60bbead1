"""Config errors as the user reads them: one line per key, with the command that fixes it."""

from __future__ import annotations

from pydantic import ValidationError

PROJECT = "mlflow-serving-stack"
SECRET_FIELDS = ("mlflow_database_uri", "grafana_admin_password", "api_token")
# What a public stack must set first (the API refuses to be public without a token).
TOKEN_COMMAND = "pulumi config set --secret api_token <token>"
# Keys read from other namespaces; everything else lives under the project's own.
FOREIGN_KEYS = {"region": "aws:region"}
# A list key's example is a tuple: its fix sets each item (`--path`), as Pulumi.yaml's
# `type: array` asks; the CLI refuses a JSON string for a typed array key.
EXAMPLES: dict[str, str | tuple[str, ...]] = {
    "target": "eks",
    "region": "us-east-1",
    "vpc_cidr": "10.0.0.0/16",
    "public_subnet_cidrs": ("10.0.0.0/20", "10.0.16.0/20"),
    "load_balancer_subnet_cidrs": ("10.0.32.0/26", "10.0.32.64/26"),
    "availability_zones": ("us-east-1a", "us-east-1b"),
    "api_image": "ghcr.io/<owner>/mlstack-serving:0.1.0",
    "mlflow_image": "ghcr.io/<owner>/mlstack-mlflow:0.1.0",
    "trainer_image": "ghcr.io/<owner>/mlstack-trainer:0.1.0",
    "node_min_size": "1",
    "node_desired_size": "2",
    "node_max_size": "3",
    "trainer_schedule": "'0 3 * * 0'",
    "trainer_workers": "3",
    "score_schedule": "'0 * * * *'",
    "forecast_degradation_ratio": "2",
    "score_max_age_hours": "24",
    "promotion": "<backtest|realised|both>",
    "min_realised_points": "24",
    "promotion_significance": "0.01",
    "public_access": "true",
    "public_host": "api.example.com",
    "public_tls_secret": "mlstack-tls",
    "pod_network_cidr": "10.244.0.0/16",
    "public_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/<id>",
    "mlflow_database": "<rds|sqlite|external>",
    "mlflow_replicas": "3",
    "mlflow_database_instance_class": "db.t4g.medium",
    "mlflow_database_storage_gib": "50",
    "mlflow_database_multi_az": "true",
    "mlflow_database_backup_retention_days": "14",
    "mlflow_database_deletion_protection": "false",
    "mlflow_database_snapshot": "<snapshot identifier>",
}

# Keys whose fix is not `pulumi config set <key> <example>`: lists of the user's own addresses.
COMMANDS = {
    "endpoint_public_access_cidrs": (
        "pulumi config set --path 'endpoint_public_access_cidrs[0]' <your address>/32"
    ),
    "public_access_cidrs": "pulumi config set --path 'public_access_cidrs[0]' <your address>/32",
}


def hint(key: str) -> str:
    if key in COMMANDS:
        return COMMANDS[key]
    if key in FOREIGN_KEYS:
        return f"pulumi config set {FOREIGN_KEYS[key]} {EXAMPLES.get(key, '<value>')}"
    if key in SECRET_FIELDS:
        return f"pulumi config set --secret {PROJECT}:{key} <value>"
    example = EXAMPLES.get(key, "<value>")
    if isinstance(example, tuple):
        items = enumerate(example)
        return " && ".join(f"pulumi config set --path '{key}[{i}]' {item}" for i, item in items)
    return f"pulumi config set {PROJECT}:{key} {example}"


def format_errors(err: ValidationError) -> str:
    """One line per bad key: the key, what is wrong, and the command that fixes it."""
    lines = ["invalid stack config:"]
    for item in err.errors():
        key = str(item["loc"][0]) if item["loc"] else "config"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            lines.append(f"  {key}: is not a known key (fix: pulumi config rm {PROJECT}:{key})")
            continue
        # Values are echoed: escape control characters so each key stays on one line.
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        lines.append(f"  {key}: {message} (fix: {hint(key)})")
    return "\n".join(lines)
