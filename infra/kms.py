"""The stack's customer-managed KMS key: it encrypts MLflow's database, its backups and its final
snapshot (terraform/kms.tf's key, which also encrypts the cluster's secrets and logs there)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.naming import res_name

# Days between `pulumi destroy` (or a deletion) and the key's end, as terraform/kms.tf has it.
DELETION_WINDOW_DAYS = 7


@dataclass(frozen=True)
class StackKeyArgs:
    prefix: str  # names the alias, alias/<prefix>
    tags: Mapping[str, str] = field(default_factory=dict)


class StackKey(pulumi.ComponentResource):
    """A KMS key with yearly rotation, and its alias. `pulumi destroy` leaves the key in the
    account (retain on delete): the database's final snapshot is encrypted with it, and would be
    unreadable once the key is gone."""

    key: aws.kms.Key
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:StackKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            res_name(name, "key"),
            description=f"{args.prefix}: MLflow's database, its backups and snapshots",
            enable_key_rotation=True,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(retain_on_delete=True)),
        )
        aws.kms.Alias(
            res_name(name, "key"),
            name=f"alias/{args.prefix}",
            target_key_id=self.key.key_id,
            opts=child,
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})
