"""The EKS stack's resource graph, from `Pulumi.eks.yaml` (plus `aws:region`) under mocks."""

from __future__ import annotations

import json
from ipaddress import IPv4Network

import yaml
from k8s import harness
from k8s.harness import (
    EKS_SETTINGS,
    PROJECT,
    ROOT,
    Graph,
    Recorded,
    containers,
    eks,
    env_of,
    is_secret,
    program,
    unsecret,
)

from infra.prometheus_stack import SIZES

STORAGE_CLASS = "gp3"
STACK = {
    k.removeprefix(f"{PROJECT}:"): v
    for k, v in yaml.safe_load((ROOT / "Pulumi.eks.yaml").read_text())["config"].items()
}


def graph() -> Graph:
    return eks()


def subnets(role: str = "public") -> list[Recorded]:
    return harness.subnets(graph(), role)


def ids(role: str = "public") -> list[str]:
    return harness.subnet_ids(graph(), role)


def test_vpc_has_the_configured_cidr_and_dns_support() -> None:
    vpc = graph().one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == STACK["vpc_cidr"]
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


def test_node_subnets_span_two_zones_with_public_ips_and_no_elb_tag() -> None:
    found = subnets()
    assert [s.inputs["cidrBlock"] for s in found] == STACK["public_subnet_cidrs"]
    assert len({s.inputs["availabilityZone"] for s in found}) == 2
    vpc = IPv4Network(STACK["vpc_cidr"])
    for subnet in found:
        assert IPv4Network(subnet.inputs["cidrBlock"]).subnet_of(vpc)
        assert subnet.inputs["mapPublicIpOnLaunch"] is True
        # Untagged, so the load balancer controller never places a load balancer among nodes.
        assert "kubernetes.io/role/elb" not in subnet.inputs["tags"]


def test_the_load_balancer_has_its_own_small_tagged_subnets_in_the_same_zones() -> None:
    found = subnets("lb")
    assert [s.inputs["cidrBlock"] for s in found] == STACK["load_balancer_subnet_cidrs"]
    zones = [s.inputs["availabilityZone"] for s in found]
    assert zones == [s.inputs["availabilityZone"] for s in subnets()]
    vpc = IPv4Network(STACK["vpc_cidr"])
    nodes = [IPv4Network(c) for c in STACK["public_subnet_cidrs"]]
    for subnet in found:
        cidr = IPv4Network(subnet.inputs["cidrBlock"])
        assert cidr.subnet_of(vpc) and cidr.prefixlen <= 27
        assert not any(cidr.overlaps(node) for node in nodes)
        assert subnet.inputs["mapPublicIpOnLaunch"] is False  # the ALB has its own addresses
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"


def test_subnets_route_to_the_internet_gateway() -> None:
    table = graph().one("aws:ec2/routeTable:RouteTable")
    (route,) = table.inputs["routes"]
    assert route["cidrBlock"] == "0.0.0.0/0"
    assert route["gatewayId"] == graph().one("aws:ec2/internetGateway:InternetGateway").name + "-id"
    associations = graph().of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    assert {a.inputs["routeTableId"] for a in associations} == {table.name + "-id"}
    assert sorted(a.inputs["subnetId"] for a in associations) == sorted(ids() + ids("lb"))


def holders(found: Graph, subnet_ids: list[str]) -> set[str]:
    """The types of every resource whose inputs name one of `subnet_ids`."""
    return {
        r.typ
        for r in found.resources
        if any(i in json.dumps(r.inputs, default=str) for i in subnet_ids)
    }


def test_no_load_balancer_subnet_reaches_the_cluster_the_nodes_or_the_database() -> None:
    found = graph()
    balancers = ids("lb")
    # Only their own route table associations name them (and with public access, the Ingress).
    assert holders(found, balancers) == {"aws:ec2/routeTableAssociation:RouteTableAssociation"}
    cluster = found.one("eks:index:Cluster").inputs
    nodes = found.one("eks:index:ManagedNodeGroup").inputs
    database = found.one("aws:rds/subnetGroup:SubnetGroup").inputs
    for placed in (cluster["publicSubnetIds"], nodes["subnetIds"], database["subnetIds"]):
        assert sorted(placed) == sorted(ids())


def test_cluster_runs_on_those_subnets_with_api_auth_oidc_and_limited_endpoint() -> None:
    cluster = graph().one("eks:index:Cluster").inputs
    assert cluster["publicSubnetIds"] == ids()
    assert cluster["vpcId"] == graph().one("aws:ec2/vpc:Vpc").name + "-id"
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["authenticationMode"] == "API"
    assert cluster["createOidcProvider"] is True
    assert cluster["publicAccessCidrs"] == EKS_SETTINGS["endpoint_public_access_cidrs"]
    assert cluster["version"] == STACK["kubernetes_version"]
    assert set(cluster["enabledClusterLogTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }


def test_node_group_sizes_come_from_config() -> None:
    nodes = graph().one("eks:index:ManagedNodeGroup").inputs
    assert nodes["scalingConfig"] == {
        "minSize": STACK["node_min_size"],
        "desiredSize": STACK["node_desired_size"],
        "maxSize": STACK["node_max_size"],
    }
    assert nodes["instanceTypes"] == [STACK["node_instance_type"]]
    assert nodes["subnetIds"] == ids()


def test_nodes_require_imdsv2_and_encrypt_their_disks() -> None:
    template = graph().one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    (disk,) = template.inputs["blockDeviceMappings"]
    assert disk["ebs"]["encrypted"] == "true"
    nodes = graph().one("eks:index:ManagedNodeGroup").inputs
    assert nodes["launchTemplate"]["id"] == template.name + "-id"


def test_bucket_is_versioned_encrypted_private_and_tls_only() -> None:
    g = graph()
    bucket = g.one("aws:s3/bucket:Bucket")
    bucket_id = bucket.name + "-id"
    versioning = g.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert (versioning["bucket"], versioning["versioningConfiguration"]["status"]) == (
        bucket_id,
        "Enabled",
    )
    (rule,) = g.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = g.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    (deny,) = json.loads(g.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_bundled_dataset_is_uploaded_to_the_bucket() -> None:
    obj = graph().one("aws:s3/bucketObjectv2:BucketObjectv2").inputs
    assert obj["key"] == "data/airline.csv"
    assert obj["bucket"] == graph().one("aws:s3/bucket:Bucket").name + "-id"


def _trust_subjects() -> dict[str, str]:
    subjects = {}
    for role in graph().of_type("aws:iam/role:Role"):
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        condition = statement.get("Condition", {}).get("StringEquals", {})
        for key, value in condition.items():
            if key.endswith(":sub"):
                subjects[role.name] = value
                assert condition[key.replace(":sub", ":aud")] == "sts.amazonaws.com"
    return subjects


def test_irsa_trust_is_bound_to_the_mlflow_and_trainer_service_accounts() -> None:
    subjects = set(_trust_subjects().values())
    assert {
        "system:serviceaccount:mlstack:mlstack-mlflow",
        "system:serviceaccount:mlstack:mlstack-trainer",
    } <= subjects
    accounts = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"].get("annotations", {})
        for r in graph().of_type("kubernetes:core/v1:ServiceAccount")
    }
    roles = {v: k for k, v in _trust_subjects().items()}
    for name in ("mlstack-mlflow", "mlstack-trainer"):
        role = roles[f"system:serviceaccount:mlstack:{name}"]
        assert accounts[name]["eks.amazonaws.com/role-arn"].endswith(f":{role}")
    assert "eks.amazonaws.com/role-arn" not in accounts["mlstack-api"]


def test_irsa_policies_reach_only_the_stack_bucket() -> None:
    bucket = graph().one("aws:s3/bucket:Bucket").name
    policies = [
        p
        for p in graph().of_type("aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"].endswith("-irsa-role-id")
    ]
    assert len(policies) == 2
    for policy in policies:
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            resource = statement["Resource"]
            assert resource.startswith(f"arn:aws:s3:::{bucket}-0a1b2c"), resource
            assert "*" not in statement["Action"]


def test_kubernetes_provider_uses_the_cluster_kubeconfig() -> None:
    kubeconfig = graph().one("pulumi:providers:kubernetes").inputs["kubeconfig"]
    assert is_secret(kubeconfig)
    assert json.loads(unsecret(kubeconfig)) == {"apiVersion": "v1", "kind": "Config"}


def test_mlflow_writes_artifacts_to_s3_through_its_proxy_with_irsa_only() -> None:
    (server,) = containers(graph(), "mlflow")
    env = env_of(server)
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://mlstack-bucket-0a1b2c/artifacts"
    everywhere = [
        name for _, spec in graph().pod_specs() for c in spec["containers"] for name in env_of(c)
    ]
    assert "MLFLOW_S3_ENDPOINT_URL" not in everywhere
    assert not [n for n in everywhere if n.startswith("AWS_")]  # no static credentials


def test_trainer_reads_the_dataset_from_s3() -> None:
    (trainer,) = containers(graph(), "trainer")
    assert env_of(trainer)["DATA_URI"] == "s3://mlstack-bucket-0a1b2c/data/airline.csv"


def test_mlflow_on_sqlite_keeps_its_volume_on_the_ebs_csi_storage_class() -> None:
    on_sqlite = program("eks", {**EKS_SETTINGS, "mlflow_database": "sqlite"})
    claim = on_sqlite.one("kubernetes:core/v1:PersistentVolumeClaim").inputs
    storage_class = on_sqlite.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert claim["spec"]["storageClassName"] == storage_class["metadata"]["name"]
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    addon = graph().one("eks:index:Addon")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    # Destroyed in reverse: the claim, then the class, then the driver that deletes the volume.
    assert on_sqlite.waits_on(STORAGE_CLASS, addon.name)


def test_exports_include_bucket_and_secret_kubeconfig() -> None:
    exports = graph().exports
    assert exports["bucket_name"] == "mlstack-bucket-0a1b2c"
    assert json.loads(exports["kubeconfig"])["kind"] == "Config"
    assert exports["port_forward_api"] == "kubectl -n mlstack port-forward svc/mlstack-api 8000:80"


def test_aws_resources_go_through_one_provider_for_the_configured_region() -> None:
    # Another region than the session's run, so a region written into the program would fail.
    g = program("eks", {**EKS_SETTINGS, "aws:region": "eu-west-2"})
    provider = g.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-2"
    on_aws = [r for r in g.resources if r.typ.startswith("aws:")]
    assert on_aws
    assert [r.name for r in on_aws if not r.provider] == []  # none on the default provider
    assert {g.provider(r.provider).name for r in on_aws} == {provider.name}
    # pulumi-eks makes its own AWS resources (the control plane, its IAM, security groups)
    # with the AWS provider its components are handed.
    for typ in ("eks:index:Cluster", "eks:index:ManagedNodeGroup", "eks:index:Addon"):
        handed = g.providers_passed_to(g.one(typ))
        assert g.provider(handed["aws"]).name == provider.name, typ
    (lookup,) = [c for c in g.calls if c.token.endswith(":getAvailabilityZones")]
    assert g.provider(lookup.provider).name == provider.name
    zones = {s.inputs["availabilityZone"] for s in g.of_type("aws:ec2/subnet:Subnet")}
    assert zones == {"eu-west-2a", "eu-west-2b"}


def test_eks_runs_the_standard_sized_monitoring_stack() -> None:
    values = unsecret(graph().one("kubernetes:helm.sh/v3:Release").inputs["values"])
    prometheus = values["prometheus"]["prometheusSpec"]
    assert prometheus["retention"] == SIZES["standard"].retention == "15d"
    assert prometheus["resources"]["requests"]["memory"] == "2Gi"
