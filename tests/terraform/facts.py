"""What must match between `terraform/` and the Pulumi `eks` stack, read from each side.

Both functions return the same keys with plain values (strings, numbers, lists, dicts), so a
parity test can compare them key by key. The Pulumi side is the program's resource graph under
mocks, from whichever config the caller ran it with; the Terraform side is the parsed HCL, from
whichever values the `Terraform` it gets holds (see `tests/terraform/test_parity.py`).
"""

from __future__ import annotations

import json
from typing import Any

from k8s.harness import ZONES, Graph, subnets

from terraform.hcl import Terraform
from terraform.security_facts import SECURITY_FACTS, pulumi_security, terraform_security

BUCKET = "<bucket>"  # both sides' bucket ARN, which only AWS knows
FACTS = (
    "vpc_cidr",
    "vpc_dns_support_and_hostnames",
    "public_subnet_cidrs",
    "subnet_availability_zones",
    "public_ip_on_launch",
    "elb_role_tag",
    "default_route_to_internet_gateway",
    "load_balancer_subnet_cidrs",
    "load_balancer_subnet_availability_zones",
    "load_balancer_public_ip_on_launch",
    "load_balancer_elb_role_tag",
    "load_balancer_subnets_on_the_public_route_table",
    "kubernetes_version",
    "authentication_mode",
    "endpoint_public_and_private_access",
    "endpoint_public_access_cidrs",
    "oidc_provider",
    "node_instance_types",
    "node_sizes",
    "node_root_volume",
    "node_imds",
    "node_role_policies",
    "addons",
    "bucket_versioning",
    "bucket_encryption",
    "bucket_public_access_block",
    "bucket_tls_only_policy",
    "bucket_object_ownership",
    "bucket_force_destroy",
    "data_object",
    "irsa_subjects",
    "irsa_bucket_access",
    "monitoring_chart",
    "port_forward_grafana",
    *SECURITY_FACTS,
)
# Terraform's zone lookup when availability_zones is empty: the region's first zones, one per
# subnet. Pulumi's lookup is mocked with ZONES, so both resolve against the same list.
TF_ZONE_LOOKUP = (
    "${length(var.availability_zones) > 0 ? var.availability_zones : "
    "slice(data.aws_availability_zones.available.names,0,length(var.public_subnet_cidrs))}"
)


def _subject(trust_policy: str) -> str:
    """The one `system:serviceaccount:<ns>:<name>` a web-identity trust policy admits."""
    (statement,) = json.loads(trust_policy)["Statement"]
    subjects = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert len(subjects) == 1, f"trust policy admits {subjects}, expected one subject"
    return str(subjects[0])


def _bucket(text: str, arn: str) -> str:
    return text.replace(arn, BUCKET)


# ---------------------------------------------------------------------------------- Pulumi side


def _pulumi_bucket_arn(graph: Graph) -> str:
    return str(
        json.loads(graph.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"][0][
            "Resource"
        ][0]
    )


def _pulumi_irsa(graph: Graph) -> tuple[dict[str, str], dict[str, Any]]:
    """Role name -> subject, and subject -> bucket access of its inline policy."""
    subjects = {
        r.name: _subject(r.inputs["assumeRolePolicy"])
        for r in graph.of_type("aws:iam/role:Role")
        if "AssumeRoleWithWebIdentity" in r.inputs["assumeRolePolicy"]
    }
    arn = _pulumi_bucket_arn(graph)
    access: dict[str, Any] = {}
    for policy in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        role = str(policy.inputs["role"]).removesuffix("-id")
        if role not in subjects:
            continue  # not an IRSA role: the control plane's (security_facts.py)
        subject = subjects[role]
        objects, listing = json.loads(policy.inputs["policy"])["Statement"]
        access[subject] = {
            "actions": sorted(objects["Action"]),
            "objects": _bucket(objects["Resource"], arn),
            "list": [
                _bucket(listing["Resource"], arn),
                listing["Action"],
                sorted(listing["Condition"]["StringLike"]["s3:prefix"]),
            ],
        }
    return subjects, access


def _pulumi_network(graph: Graph) -> dict[str, Any]:
    vpc = graph.one("aws:ec2/vpc:Vpc").inputs
    nodes = [s.inputs for s in subnets(graph)]
    balancers = subnets(graph, "lb")
    table = graph.one("aws:ec2/routeTable:RouteTable")
    (route,) = table.inputs["routes"]
    igw = graph.one("aws:ec2/internetGateway:InternetGateway")
    tables = {
        a.inputs["subnetId"]: a.inputs["routeTableId"]
        for a in graph.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    return {
        "vpc_cidr": vpc["cidrBlock"],
        "vpc_dns_support_and_hostnames": [vpc["enableDnsSupport"], vpc["enableDnsHostnames"]],
        "public_subnet_cidrs": [s["cidrBlock"] for s in nodes],
        "subnet_availability_zones": [s["availabilityZone"] for s in nodes],
        "public_ip_on_launch": [s["mapPublicIpOnLaunch"] for s in nodes],
        "elb_role_tag": [s["tags"].get("kubernetes.io/role/elb") for s in nodes],
        "default_route_to_internet_gateway": [
            route["cidrBlock"],
            route["gatewayId"] == f"{igw.name}-id",
        ],
        "load_balancer_subnet_cidrs": [s.inputs["cidrBlock"] for s in balancers],
        "load_balancer_subnet_availability_zones": [
            s.inputs["availabilityZone"] for s in balancers
        ],
        "load_balancer_public_ip_on_launch": [s.inputs["mapPublicIpOnLaunch"] for s in balancers],
        "load_balancer_elb_role_tag": [
            s.inputs["tags"].get("kubernetes.io/role/elb") for s in balancers
        ],
        "load_balancer_subnets_on_the_public_route_table": [
            tables.get(f"{s.name}-id") == f"{table.name}-id" for s in balancers
        ],
    }


def _pulumi_cluster(graph: Graph) -> dict[str, Any]:
    cluster = graph.one("eks:index:Cluster").inputs
    nodes = graph.one("eks:index:ManagedNodeGroup").inputs
    template = graph.one("aws:ec2/launchTemplate:LaunchTemplate").inputs
    meta, (disk,) = template["metadataOptions"], template["blockDeviceMappings"]
    scaling = nodes["scalingConfig"]
    node_role = [
        r
        for r in graph.of_type("aws:iam/role:Role")
        if "ec2.amazonaws.com" in r.inputs["assumeRolePolicy"]
    ]
    policies = [
        p.inputs["policyArn"].rsplit("/", 1)[1]
        for p in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if [p.inputs["role"]] == [r.name for r in node_role]
    ]
    subjects, _ = _pulumi_irsa(graph)
    addons = {
        a.inputs["addonName"]: subjects[a.inputs["serviceAccountRoleArn"].rsplit(":", 1)[1]]
        for a in graph.of_type("eks:index:Addon")
    }
    return {
        "kubernetes_version": cluster["version"],
        "authentication_mode": cluster["authenticationMode"],
        "endpoint_public_and_private_access": [
            cluster["endpointPublicAccess"],
            cluster["endpointPrivateAccess"],
        ],
        "endpoint_public_access_cidrs": cluster["publicAccessCidrs"],
        "oidc_provider": cluster["createOidcProvider"],
        "node_instance_types": nodes["instanceTypes"],
        "node_sizes": [
            int(scaling["minSize"]),
            int(scaling["desiredSize"]),
            int(scaling["maxSize"]),
        ],
        "node_root_volume": [
            int(disk["ebs"]["volumeSize"]),
            disk["ebs"]["volumeType"],
            str(disk["ebs"]["encrypted"]).lower() == "true",
        ],
        "node_imds": [
            meta["httpEndpoint"],
            meta["httpTokens"],
            int(meta["httpPutResponseHopLimit"]),
        ],
        "node_role_policies": sorted(policies),
        "addons": addons,
    }


def _pulumi_storage(graph: Graph) -> dict[str, Any]:
    arn = _pulumi_bucket_arn(graph)
    (sse,) = graph.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    block = graph.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    (tls,) = json.loads(graph.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    data = graph.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs
    return {
        "bucket_versioning": graph.one("aws:s3/bucketVersioning:BucketVersioning").inputs[
            "versioningConfiguration"
        ]["status"],
        "bucket_encryption": [
            sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"],
            sse["bucketKeyEnabled"],
        ],
        "bucket_public_access_block": {
            k: block[k]
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        },
        "bucket_tls_only_policy": {
            "effect": tls["Effect"],
            "principal": tls["Principal"],
            "actions": [tls["Action"]],
            "resources": sorted(_bucket(r, arn) for r in tls["Resource"]),
            "condition": tls["Condition"],
        },
        "bucket_object_ownership": graph.one(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
        ).inputs["rule"]["objectOwnership"],
        "bucket_force_destroy": graph.one("aws:s3/bucket:Bucket").inputs["forceDestroy"],
        "data_object": [data["key"], data["serverSideEncryption"]],
    }


def pulumi_facts(graph: Graph) -> dict[str, Any]:
    subjects, access = _pulumi_irsa(graph)
    chart = graph.one("kubernetes:helm.sh/v3:Release").inputs
    return {
        **_pulumi_network(graph),
        **_pulumi_cluster(graph),
        **_pulumi_storage(graph),
        "irsa_subjects": sorted(subjects.values()),
        "irsa_bucket_access": access,
        "monitoring_chart": {
            "chart": chart["chart"],
            "version": chart["version"],
            "repository": chart["repositoryOpts"]["repo"],
            "release": chart["name"],
            "namespace": chart["namespace"],
        },
        "port_forward_grafana": graph.exports.get("port_forward_grafana"),
        **pulumi_security(graph),
    }


# ------------------------------------------------------------------------------- Terraform side


def _tf_zones(tf: Terraform) -> list[str]:
    assert tf.locals["availability_zones"] == TF_ZONE_LOOKUP, (
        "terraform/locals.tf: availability_zones is no longer 'the given zones, else the region's "
        "first ones'; update tests/terraform/facts.py to read the new rule"
    )
    given = tf.values["availability_zones"]
    return list(given) if given else list(ZONES[: len(tf.values["public_subnet_cidrs"])])


def _tf_network(tf: Terraform) -> dict[str, Any]:
    vpc = tf.resource("aws_vpc", "this")
    subnet = tf.raw("aws_subnet", "public")
    assert subnet["for_each"] == ["${local.public_subnets}"], "subnets are not one per zone"
    assert (
        tf.locals["public_subnets"] == "${zipmap(local.availability_zones,var.public_subnet_cidrs)}"
    )
    assert [subnet["availability_zone"], subnet["cidr_block"]] == [
        ["${each.key}"],
        ["${each.value}"],
    ]
    cidrs, zones = tf.values["public_subnet_cidrs"], _tf_zones(tf)
    route = tf.resource("aws_route", "internet")
    balancers = tf.values["load_balancer_subnet_cidrs"]
    balancer = _tf_load_balancer_subnet(tf)
    association = tf.raw("aws_route_table_association", "load_balancer")
    routed = association["for_each"] == ["${aws_subnet.load_balancer}"] and association[
        "route_table_id"
    ] == ["${aws_route_table.public.id}"]
    return {
        "vpc_cidr": vpc["cidr_block"][0],
        "vpc_dns_support_and_hostnames": [
            vpc["enable_dns_support"][0],
            vpc["enable_dns_hostnames"][0],
        ],
        "public_subnet_cidrs": list(cidrs),
        "subnet_availability_zones": zones,
        "public_ip_on_launch": [subnet["map_public_ip_on_launch"][0]] * len(cidrs),
        "elb_role_tag": [subnet["tags"][0].get("kubernetes.io/role/elb")] * len(cidrs),
        "default_route_to_internet_gateway": [
            route["destination_cidr_block"][0],
            route["gateway_id"] == ["${aws_internet_gateway.this.id}"]
            and route["route_table_id"] == ["${aws_route_table.public.id}"],
        ],
        "load_balancer_subnet_cidrs": list(balancers),
        # The node subnets' zones, in their order (the local zips them, checked below).
        "load_balancer_subnet_availability_zones": zones,
        "load_balancer_public_ip_on_launch": [balancer["map_public_ip_on_launch"][0]]
        * len(balancers),
        "load_balancer_elb_role_tag": [balancer["tags"][0].get("kubernetes.io/role/elb")]
        * len(balancers),
        "load_balancer_subnets_on_the_public_route_table": [routed] * len(balancers),
    }


def _tf_load_balancer_subnet(tf: Terraform) -> dict[str, Any]:
    """`aws_subnet.load_balancer`, once its for_each is checked: one per zone, in order."""
    subnet = tf.raw("aws_subnet", "load_balancer")
    assert subnet["for_each"] == ["${local.load_balancer_subnets}"], "not one per zone"
    assert tf.locals["load_balancer_subnets"] == (
        "${zipmap(local.availability_zones,var.load_balancer_subnet_cidrs)}"
    )
    assert [subnet["availability_zone"], subnet["cidr_block"]] == [
        ["${each.key}"],
        ["${each.value}"],
    ]
    return subnet


def _tf_cluster(tf: Terraform, subjects: dict[str, str]) -> dict[str, Any]:
    cluster = tf.resource("aws_eks_cluster", "this")
    access, vpc = cluster["access_config"][0], cluster["vpc_config"][0]
    nodes = tf.resource("aws_eks_node_group", "this")
    scaling = nodes["scaling_config"][0]
    template = tf.resource("aws_launch_template", "node")
    meta, ebs = template["metadata_options"][0], template["block_device_mappings"][0]["ebs"][0]
    assert nodes["launch_template"][0]["id"] == ["${aws_launch_template.node.id}"]
    assert tf.raw("aws_iam_role_policy_attachment", "node")["for_each"] == [
        "${toset(local.node_policies)}"
    ]
    oidc = tf.resource("aws_iam_openid_connect_provider", "this")
    addon = tf.resource("aws_eks_addon", "ebs_csi")
    role_key = addon["service_account_role_arn"][0].split('"')[1]  # aws_iam_role.irsa["ebs-csi"]
    return {
        "kubernetes_version": cluster["version"][0],
        "authentication_mode": access["authentication_mode"][0],
        "endpoint_public_and_private_access": [
            vpc["endpoint_public_access"][0],
            vpc["endpoint_private_access"][0],
        ],
        "endpoint_public_access_cidrs": vpc["public_access_cidrs"][0],
        "oidc_provider": oidc["client_id_list"] == [["sts.amazonaws.com"]],
        "node_instance_types": nodes["instance_types"][0],
        "node_sizes": [scaling["min_size"][0], scaling["desired_size"][0], scaling["max_size"][0]],
        "node_root_volume": [ebs["volume_size"][0], ebs["volume_type"][0], ebs["encrypted"][0]],
        "node_imds": [
            meta["http_endpoint"][0],
            meta["http_tokens"][0],
            meta["http_put_response_hop_limit"][0],
        ],
        "node_role_policies": sorted(tf.resolve(tf.locals["node_policies"])),
        "addons": {addon["addon_name"][0]: subjects[role_key]},
    }


def _tf_storage(tf: Terraform) -> dict[str, Any]:
    arn = "${aws_s3_bucket.data.arn}"
    sse = tf.resource("aws_s3_bucket_server_side_encryption_configuration", "data")["rule"][0]
    block = tf.resource("aws_s3_bucket_public_access_block", "data")
    (tls,) = tf.resource("aws_iam_policy_document", "tls_only", kind="data")["statement"]
    (principal,), (condition,) = tls["principals"], tls["condition"]
    assert tf.resource("aws_s3_bucket_policy", "data")["policy"] == [
        "${data.aws_iam_policy_document.tls_only.json}"
    ], "the TLS-only document is not applied"
    data = tf.resource("aws_s3_object", "airline")
    return {
        "bucket_versioning": tf.resource("aws_s3_bucket_versioning", "data")[
            "versioning_configuration"
        ][0]["status"][0],
        "bucket_encryption": [
            sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"][0],
            sse["bucket_key_enabled"][0],
        ],
        "bucket_public_access_block": {
            "blockPublicAcls": block["block_public_acls"][0],
            "blockPublicPolicy": block["block_public_policy"][0],
            "ignorePublicAcls": block["ignore_public_acls"][0],
            "restrictPublicBuckets": block["restrict_public_buckets"][0],
        },
        "bucket_tls_only_policy": {
            "effect": tls["effect"][0],
            "principal": "*"
            if principal["type"] == ["*"] and principal["identifiers"] == [["*"]]
            else principal,
            "actions": tls["actions"][0],
            "resources": sorted(_bucket(r, arn) for r in tls["resources"][0]),
            "condition": {
                condition["test"][0]: {condition["variable"][0]: condition["values"][0][0]}
            },
        },
        "bucket_object_ownership": tf.resource("aws_s3_bucket_ownership_controls", "data")["rule"][
            0
        ]["object_ownership"][0],
        "bucket_force_destroy": tf.resource("aws_s3_bucket", "data")["force_destroy"][0],
        "data_object": [data["key"][0], data["server_side_encryption"][0]],
    }


# Every IRSA role of terraform/irsa.tf: the workloads' (local.irsa), and with public access the
# load balancer controller's too.
TF_IRSA_ROLES = "${merge(local.irsa,var.public_access ? local.lb_controller_irsa : {})}"


def tf_irsa_subjects(tf: Terraform, roles: str) -> dict[str, str]:
    """Role key -> the subject its trust policy admits, for the roles of the local `roles`: the
    one trust document of irsa.tf, made for each role of `local.irsa_roles`."""
    trust = tf.raw("aws_iam_policy_document", "irsa_trust", kind="data")
    assert trust["for_each"] == ["${local.irsa_roles}"]
    assert tf.raw("aws_iam_role", "irsa")["for_each"] == ["${local.irsa_roles}"]
    assert tf.locals["irsa_roles"] == TF_IRSA_ROLES
    sub = [c for c in trust["statement"][0]["condition"] if c["variable"][0].endswith(":sub")]
    assert sub[0]["values"] == [
        ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    ]
    return {
        key: f"system:serviceaccount:{v['namespace']}:{v['service_account']}"
        for key, v in tf.resolve(tf.locals[roles]).items()
    }


def _tf_irsa(tf: Terraform) -> tuple[dict[str, str], dict[str, Any]]:
    """Role key -> subject, and subject -> bucket access, from the locals the documents use."""
    subjects = tf_irsa_subjects(tf, "irsa")
    doc = tf.raw("aws_iam_policy_document", "bucket_access", kind="data")["statement"]
    objects, listing = doc
    assert objects["actions"] == ["${each.value.actions}"]
    assert objects["resources"] == [["${aws_s3_bucket.data.arn}/${each.value.prefix}/*"]]
    access = {}
    for key, grant in tf.resolve(tf.locals["bucket_access"]).items():
        prefix = grant["prefix"]
        (condition,) = listing["condition"]
        prefixes = [p.replace("${each.value.prefix}", prefix) for p in condition["values"][0]]
        access[subjects[key]] = {
            "actions": sorted(grant["actions"]),
            "objects": f"{BUCKET}/{prefix}/*",
            "list": [
                _bucket(listing["resources"][0][0], "${aws_s3_bucket.data.arn}"),
                listing["actions"][0][0],
                sorted(prefixes),
            ],
        }
    return subjects, access


def terraform_facts(tf: Terraform) -> dict[str, Any]:
    subjects, access = _tf_irsa(tf)
    chart = tf.resource("helm_release", "monitoring")
    return {
        **_tf_network(tf),
        **_tf_cluster(tf, subjects),
        **_tf_storage(tf),
        "irsa_subjects": sorted(subjects.values()),
        "irsa_bucket_access": access,
        "monitoring_chart": {
            "chart": chart["chart"][0],
            "version": chart["version"][0],
            "repository": chart["repository"][0],
            "release": chart["name"][0],
            "namespace": chart["namespace"][0],
        },
        "port_forward_grafana": tf.resolve(tf.outputs["port_forward_grafana"]["value"])[0],
        **terraform_security(tf),
    }
