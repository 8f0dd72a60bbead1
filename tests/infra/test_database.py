"""The database component on its own under Pulumi's mocks: what its args refuse, and the URI it
hands MLflow (a secret, over TLS, to the instance it made)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from k8s.harness import RDS_ADDRESS, Recorder, mocks

from infra.database import Database, DatabaseArgs


def args(**kw: Any) -> DatabaseArgs:
    base: dict[str, Any] = dict(
        vpc_id="vpc-1", subnet_ids=["a", "b"], client_security_group_id="sg-nodes", kms_key_arn="k"
    )
    return DatabaseArgs(**{**base, **kw})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"instance_class": "t4g.small"}, "not an RDS instance class"),
        ({"storage_gib": 19}, "storage_gib must be 20"),
        ({"storage_gib": 101}, "storage_gib must be 20"),
        ({"backup_retention_days": 0}, "backup_retention_days must be 1 to 35"),
        ({"backup_retention_days": 36}, "backup_retention_days must be 1 to 35"),
    ],
)
def test_database_args_refuse_what_rds_would_refuse_or_what_loses_backups(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        args(**change)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with mocks(Recorder(), "unit") as recorder:
        yield recorder


def test_the_uri_is_a_secret_over_tls_to_the_instance_with_the_generated_password(
    recorder: Recorder,
) -> None:
    @pulumi.runtime.test
    def check() -> Any:
        database = Database("t", args())
        secret = pulumi.Output.all(database.uri.is_secret(), database.uri, database.endpoint)
        return secret.apply(lambda v: seen.extend(v))

    seen: list[Any] = []
    check()
    is_secret, uri, endpoint = seen
    assert is_secret is True
    assert (
        uri == f"postgresql://mlflow:generated-password@{RDS_ADDRESS}:5432/mlflow?sslmode=require"
    )
    assert endpoint == f"{RDS_ADDRESS}:5432"
    (instance,) = [r for r in recorder.resources if r.typ == "aws:rds/instance:Instance"]
    assert instance.inputs["kmsKeyId"] == "k"
