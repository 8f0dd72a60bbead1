"""The S3 bucket for training data and MLflow artifacts, hardened, with the bundled data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.naming import res_name

DATA_PREFIX = "data"
ARTIFACTS_PREFIX = "artifacts"


@dataclass(frozen=True)
class StorageArgs:
    data_file: Path
    force_destroy: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.data_file.is_file():
            raise ValueError(f"data_file {self.data_file} does not exist")

    @property
    def data_key(self) -> str:
        return f"{DATA_PREFIX}/{self.data_file.name}"


def tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def access_policy(bucket_arn: str, prefix: str, write: bool) -> str:
    """Read (and optionally write) one prefix of one bucket; nothing else."""
    actions = ["s3:GetObject"] + (["s3:PutObject", "s3:DeleteObject"] if write else [])
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": actions, "Resource": f"{bucket_arn}/{prefix}/*"},
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}},
                },
            ],
        }
    )


class Storage(pulumi.ComponentResource):
    """Bucket, versioning, default SSE, public access block, TLS-only bucket policy, ownership
    enforced (no ACLs), and the bundled dataset as an object under `data/`."""

    bucket: aws.s3.Bucket
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    data_uri: pulumi.Output[str]
    artifacts_uri: pulumi.Output[str]

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            res_name(name, "bucket"),
            force_destroy=args.force_destroy,
            tags=dict(args.tags),
            opts=child,
        )
        self._harden(name, child)
        aws.s3.BucketObjectv2(
            res_name(name, "data"),
            bucket=self.bucket.id,
            key=args.data_key,
            source=pulumi.FileAsset(str(args.data_file)),
            content_type="text/csv",
            server_side_encryption="AES256",
            opts=child,
        )
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.data_uri = self.bucket.bucket.apply(lambda b: f"s3://{b}/{args.data_key}")
        self.artifacts_uri = self.bucket.bucket.apply(lambda b: f"s3://{b}/{ARTIFACTS_PREFIX}")
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "data_uri": self.data_uri,
                "artifacts_uri": self.artifacts_uri,
            }
        )

    def _harden(self, name: str, child: pulumi.ResourceOptions) -> None:
        aws.s3.BucketVersioning(
            res_name(name, "versioning"),
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            res_name(name, "sse"),
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        block = aws.s3.BucketPublicAccessBlock(
            res_name(name, "public-access"),
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            res_name(name, "ownership"),
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        # After the block: S3 rejects policy writes that race the public access block.
        aws.s3.BucketPolicy(
            res_name(name, "tls-only"),
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(tls_only_policy),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[block])),
        )
