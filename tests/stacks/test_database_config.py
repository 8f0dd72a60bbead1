"""The store keys of the stack config: which database each target may use, what an external one
must be, and the RDS instance's bounds; each refusal names the key and the fix."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from k8s.harness import EKS_CONFIG, ROOT
from pydantic import ValidationError

from stacks.errors import PROJECT, format_errors
from stacks.loading import parse

EKS = EKS_CONFIG
MINIKUBE = {"target": "minikube"}
URI = "postgresql://mlflow:s3cret-pw@db.example:5432/mlflow"


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        parse(raw)
    return format_errors(caught.value)


def test_eks_defaults_to_rds_and_minikube_to_sqlite() -> None:
    assert parse(EKS).mlflow_database == "rds"
    assert parse(MINIKUBE).mlflow_database == "sqlite"


def test_a_uri_alone_means_an_external_database_as_before_on_either_target() -> None:
    for raw in (EKS, MINIKUBE):
        assert parse({**raw, "mlflow_database_uri": URI}).mlflow_database == "external"


def test_minikube_has_no_rds_and_says_which_databases_it_has() -> None:
    message = refused({**MINIKUBE, "mlflow_database": "rds"})
    assert "mlflow_database: 'rds' is not a database of this target; valid values: sqlite, " in (
        message
    )
    assert f"pulumi config set {PROJECT}:mlflow_database" in message


def test_an_external_database_needs_its_uri() -> None:
    message = refused({**EKS, "mlflow_database": "external"})
    assert "mlflow_database: is external, so mlflow_database_uri must name the database" in message


@pytest.mark.parametrize("database", ["rds", "sqlite"])
def test_a_uri_beside_another_database_is_refused_rather_than_ignored(database: str) -> None:
    message = refused({**EKS, "mlflow_database": database, "mlflow_database_uri": URI})
    assert f"mlflow_database: is {database}, yet mlflow_database_uri is set" in message
    assert "s3cret-pw" not in message


def test_a_uri_of_another_database_is_refused_without_echoing_it() -> None:
    message = refused({**MINIKUBE, "mlflow_database_uri": "mysql://u:s3cret-pw@db/mlflow"})
    assert "mlflow_database_uri: is not a PostgreSQL URI" in message
    assert "s3cret-pw" not in message
    assert f"pulumi config set --secret {PROJECT}:mlflow_database_uri" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("mlflow_database_storage_gib", 10),
        ("mlflow_database_storage_gib", 101),
        ("mlflow_database_backup_retention_days", 0),
        ("mlflow_database_backup_retention_days", 36),
        ("mlflow_database_instance_class", "t4g.small"),
        ("mlflow_database_snapshot", "not a snapshot!"),
        ("mlflow_replicas", 0),
    ],
)
def test_rds_settings_out_of_bounds_are_refused(key: str, value: Any) -> None:
    assert refused({**EKS, key: value}).splitlines()[1].startswith(f"  {key}: ")


@pytest.mark.parametrize(
    "snapshot",
    [
        "mlstack-mlflow-db-final-0a1b2c3d",
        "rds:mlstack-mlflow-db-2026-01-01-03-00",
        "arn:aws:rds:us-east-1:123456789012:snapshot:mlstack-mlflow-db-final-0a1b2c3d",
    ],
)
def test_manual_automated_and_arn_snapshots_can_be_restored(snapshot: str) -> None:
    assert parse({**EKS, "mlflow_database_snapshot": f" {snapshot} "}).mlflow_database_snapshot == (
        snapshot
    )


def readme_section(heading: str) -> str:
    """The README's text under `heading`, up to the next heading of its level or above."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n#", start + len(heading) + 2)
    return text[start : end if end != -1 else None]


def test_the_readme_names_every_database_setting_with_its_default() -> None:
    # A user chooses and restores from this section: each key it leaves out is a setting
    # nobody finds, each default it misstates a surprise on the bill or on a restore.
    section = readme_section("### MLflow's database (EKS)")
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key, spec in declared.items():
        if not key.startswith("mlflow_database"):
            continue
        assert f"`{key}`" in section, key
        default = spec.get("default")
        if default not in ("", None) and not isinstance(default, bool):
            assert f"({default})" in section or f"`{default}`" in section, (key, default)
