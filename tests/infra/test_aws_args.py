"""The AWS components' args and policy documents: network, cluster, storage and IRSA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.cluster import NodeSizes
from infra.irsa import trust_policy
from infra.network import NetworkArgs
from infra.storage import StorageArgs, access_policy, tls_only_policy

ARN = "arn:aws:s3:::bucket"


NODES = ["10.0.0.0/20", "10.0.16.0/20"]
BALANCERS = ["10.0.32.0/26", "10.0.32.64/26"]


def test_network_needs_two_subnets() -> None:
    with pytest.raises(ValueError, match="at least two availability zones"):
        NetworkArgs(
            cidr="10.0.0.0/16",
            public_subnet_cidrs=NODES[:1],
            load_balancer_subnet_cidrs=BALANCERS[:1],
            availability_zones=["a"],
        )


def test_network_needs_a_zone_per_subnet() -> None:
    with pytest.raises(ValueError, match="1 availability zones for 2 subnets"):
        NetworkArgs(
            cidr="10.0.0.0/16",
            public_subnet_cidrs=NODES,
            load_balancer_subnet_cidrs=BALANCERS,
            availability_zones=["a"],
        )


def test_network_needs_a_load_balancer_subnet_per_node_subnet() -> None:
    with pytest.raises(ValueError, match="1 load balancer subnets for 2 node subnets"):
        NetworkArgs(
            cidr="10.0.0.0/16",
            public_subnet_cidrs=NODES,
            load_balancer_subnet_cidrs=BALANCERS[:1],
            availability_zones=["a", "b"],
        )


@pytest.mark.parametrize(("low", "want", "high"), [(2, 1, 3), (1, 4, 3), (0, 0, 1)])
def test_node_sizes_need_min_desired_max_in_order(low: int, want: int, high: int) -> None:
    with pytest.raises(ValueError, match="need 1 <= min"):
        NodeSizes(low, want, high)


def test_storage_needs_the_data_file_to_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        StorageArgs(data_file=tmp_path / "missing.csv")


def test_tls_only_policy_denies_every_insecure_request() -> None:
    (statement,) = json.loads(tls_only_policy(ARN))["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Resource"] == [ARN, f"{ARN}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_read_access_is_limited_to_one_prefix_and_cannot_write() -> None:
    objects, listing = json.loads(access_policy(ARN, "data", write=False))["Statement"]
    assert objects["Action"] == ["s3:GetObject"]
    assert objects["Resource"] == f"{ARN}/data/*"
    assert listing["Resource"] == ARN
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["data/*", "data"]


def test_write_access_adds_put_and_delete_on_the_prefix_only() -> None:
    objects, _ = json.loads(access_policy(ARN, "artifacts", write=True))["Statement"]
    assert set(objects["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert objects["Resource"] == f"{ARN}/artifacts/*"


def test_irsa_trust_names_one_service_account_and_sts_audience() -> None:
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/X"
    (statement,) = json.loads(trust_policy("arn:provider", issuer, "ns", "sa"))["Statement"]
    assert statement["Principal"] == {"Federated": "arn:provider"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:ns:sa",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
