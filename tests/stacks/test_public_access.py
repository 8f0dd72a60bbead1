"""`public_access: true` (issue 23): an Ingress in front of the API on each target, safe when
on (token required, TLS, rate limits, only the forecast paths, named sources), and nothing at
all while off (the default)."""

from __future__ import annotations

import json
from ipaddress import ip_network
from typing import Any

import pulumi
import pytest
from k8s.harness import (
    CERTIFICATE,
    EKS_PUBLIC,
    EKS_SETTINGS,
    TOKEN,
    Graph,
    Recorded,
    containers,
    eks,
    env_of,
    minikube,
    program,
    run_program,
    signature,
    subnet_ids,
)

from contract.api import API_PORT, GRACEFUL_SHUTDOWN_SECONDS
from infra.lb_controller import CHART_VERSION, POLICY_FILE
from infra.naming import selector_labels
from infra.public_api import PRIVATE_PATHS, PUBLIC_EXACT, PUBLIC_PREFIXES
from infra.tls import self_signed
from stacks.errors import TOKEN_COMMAND
from stacks.public import (
    DRAIN_SECONDS,
    IDLE_TIMEOUT_SECONDS,
    NGINX_LIMITS,
    NGINX_NAMESPACE,
    NGINX_POD,
    RATE_LIMIT_PER_MINUTE,
)

MINIKUBE_PUBLIC = {"public_access": True}
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
API_PODS = selector_labels("api", "serving")


def public_minikube(**overrides: Any) -> Graph:
    return program("minikube", {**MINIKUBE_PUBLIC, **overrides}, TOKEN)


def ingress(graph: Graph) -> dict[str, Any]:
    manifest: dict[str, Any] = graph.one(INGRESS).manifest
    return manifest


def routed(manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, pathType, backend service:port) of every rule of an Ingress."""
    return [
        (p["path"], p["pathType"], f"{b['name']}:{b['port']['name']}")
        for rule in manifest["spec"]["rules"]
        for p in rule["http"]["paths"]
        for b in [p["backend"]["service"]]
    ]


def public_policy(graph: Graph) -> dict[str, Any]:
    found: dict[str, Any] = graph.one(POLICY, lambda r: r.name == "mlstack-api-public").manifest
    return found


def added(graph: Graph, today: Graph) -> set[tuple[str, str]]:
    return {(r.typ, r.name) for r in graph.resources} - {(r.typ, r.name) for r in today.resources}


# ------------------------------------------------------------------------------ off: unchanged


@pytest.mark.parametrize(
    ("stack", "settings"), [("minikube", {}), ("eks", EKS_SETTINGS)], ids=["minikube", "eks"]
)
def test_off_or_no_key_at_all_declares_exactly_todays_graph(
    stack: str, settings: dict[str, Any]
) -> None:
    absent = run_program(stack, settings, unset=("public_access",))
    off = program(stack, {**settings, "public_access": False})
    default = minikube() if stack == "minikube" else eks()
    assert signature(absent) == signature(off) == signature(default)
    assert not default.of_type(INGRESS)
    assert "public_url" not in default.exports


# -------------------------------------------------------------------------- the token refusal


@pytest.mark.parametrize(
    ("stack", "settings"),
    [("minikube", MINIKUBE_PUBLIC), ("eks", {**EKS_SETTINGS, **MINIKUBE_PUBLIC})],
    ids=["minikube", "eks"],
)
def test_public_without_a_token_is_refused_naming_the_key_and_the_command(
    stack: str, settings: dict[str, Any]
) -> None:
    with pytest.raises(pulumi.RunError) as stopped:
        run_program(stack, settings)
    lines = str(stopped.value).splitlines()
    (line,) = [ln for ln in lines if ln.strip().startswith("api_token:")]
    assert "is required when public_access is on" in line
    assert TOKEN_COMMAND == "pulumi config set --secret api_token <token>"
    assert TOKEN_COMMAND in line


def test_an_empty_token_is_no_token() -> None:
    with pytest.raises(pulumi.RunError, match="api_token: is required"):
        run_program("minikube", MINIKUBE_PUBLIC, {"api_token": ""})


# --------------------------------------------------------------------------------- minikube


def test_minikube_adds_the_ingress_its_policy_and_a_self_signed_certificate() -> None:
    # Against today's stack with the same token: the token's Secret is not public access's.
    assert added(public_minikube(), program("minikube", {}, TOKEN)) == {
        (INGRESS, "mlstack-api-public"),
        (POLICY, "mlstack-api-public"),
        ("kubernetes:core/v1:Secret", "mlstack-tls"),
        ("random:index/randomPassword:RandomPassword", "mlstack-tls-seed"),
        ("mlops:infra:PublicApi", "mlstack"),
        ("mlops:infra:SelfSignedTls", "mlstack"),
        ("kubernetes:core/v1:Service", "mlstack-ingress-peers"),
    }


def test_minikube_ingress_is_nginx_on_the_host_with_tls_and_per_client_limits() -> None:
    manifest = ingress(public_minikube())
    assert manifest["apiVersion"] == "networking.k8s.io/v1"
    spec = manifest["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert [r["host"] for r in spec["rules"]] == ["mlstack.local"]
    assert spec["tls"] == [{"hosts": ["mlstack.local"], "secretName": "mlstack-tls"}]
    annotations = manifest["metadata"]["annotations"]
    assert annotations == NGINX_LIMITS
    for key in ("limit-rps", "limit-burst-multiplier", "limit-connections"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) > 0
    # nginx's limit (503) is only a flood guard: a client meets the API's own (429) first.
    assert int(annotations["nginx.ingress.kubernetes.io/limit-rps"]) > RATE_LIMIT_PER_MINUTE / 60


@pytest.mark.parametrize("graph", [public_minikube, lambda: eks_public()], ids=["minikube", "eks"])
def test_only_the_forecast_paths_are_routed_and_never_metrics(graph: Any) -> None:
    paths = routed(ingress(graph()))
    assert paths == [
        *((p, "Prefix", "mlstack-api:http") for p in PUBLIC_PREFIXES),
        *((p, "Exact", "mlstack-api:http") for p in PUBLIC_EXACT),
    ]
    for private in PRIVATE_PATHS:
        # No rule routes it, whole path segments considered (`/model` does not cover `/models`).
        assert not any(
            private == path or (kind == "Prefix" and private.startswith(path.rstrip("/") + "/"))
            for path, kind, _ in paths
        )


def test_a_named_tls_secret_is_served_and_no_certificate_is_made() -> None:
    graph = public_minikube(public_tls_secret="my-tls", public_host="api.example.test")
    spec = ingress(graph)["spec"]
    assert spec["tls"] == [{"hosts": ["api.example.test"], "secretName": "my-tls"}]
    assert not graph.of_type("mlops:infra:SelfSignedTls")
    assert graph.exports["public_url"] == "https://api.example.test/"


def test_the_self_signed_certificate_names_the_host_and_is_the_same_for_the_same_seed() -> None:
    from cryptography import x509

    cert, key = self_signed("mlstack.local", "seed")
    assert (cert, key) == self_signed("mlstack.local", "seed")
    assert cert != self_signed("mlstack.local", "other")[0]
    parsed = x509.load_pem_x509_certificate(cert.encode())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mlstack.local"]
    assert "PRIVATE KEY" in key


def test_the_certificate_key_is_kept_secret() -> None:
    from k8s.harness import is_secret

    secret = public_minikube().one("kubernetes:core/v1:Secret", lambda r: r.name == "mlstack-tls")
    assert secret.manifest["type"] == "kubernetes.io/tls"
    assert is_secret(secret.inputs["stringData"]) or is_secret(
        secret.inputs["stringData"]["tls.key"]
    )


def test_minikube_policy_admits_the_nginx_controller_to_the_api_port_only() -> None:
    spec = public_policy(public_minikube())["spec"]
    assert spec["podSelector"]["matchLabels"] == API_PODS
    assert (spec["policyTypes"], spec["egress"]) == (["Ingress", "Egress"], [])  # adds no egress
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": API_PORT, "protocol": "TCP"}]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NGINX_NAMESPACE}},
            "podSelector": {"matchLabels": NGINX_POD},
        }
    ]


def test_minikube_exports_the_public_url() -> None:
    assert public_minikube().exports["public_url"] == "https://mlstack.local/"


def test_a_host_that_is_no_dns_name_is_refused() -> None:
    with pytest.raises(pulumi.RunError, match="public_host"):
        run_program("minikube", {**MINIKUBE_PUBLIC, "public_host": "not a host"}, TOKEN)


# ---------------------------------------------------------------------------------- eks


def eks_public() -> Graph:
    return program("eks", EKS_PUBLIC, TOKEN)


def annotations(graph: Graph) -> dict[str, str]:
    found: dict[str, str] = ingress(graph)["metadata"]["annotations"]
    return found


def named(graph: Graph, typ: str, name: str) -> Recorded:
    return graph.one(typ, lambda r: r.name == name)


def test_eks_adds_the_controller_its_role_the_ingress_and_its_policy() -> None:
    assert added(eks_public(), program("eks", EKS_SETTINGS, TOKEN)) == {
        ("mlops:infra:LoadBalancerController", "mlstack"),
        ("aws:iam/policy:Policy", "mlstack-lb-controller"),
        ("mlops:infra:ServiceAccountRole", "mlstack-lb-controller-irsa"),
        ("aws:iam/role:Role", "mlstack-lb-controller-irsa-role"),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "mlstack-lb-controller-irsa-managed-0",
        ),
        ("kubernetes:helm.sh/v3:Release", "mlstack-lb-controller"),
        ("mlops:infra:PublicApi", "mlstack"),
        (INGRESS, "mlstack-api-public"),
        (POLICY, "mlstack-api-public"),
    }


def test_the_controller_is_the_pinned_chart_with_its_irsa_role() -> None:
    graph = eks_public()
    release = named(graph, "kubernetes:helm.sh/v3:Release", "mlstack-lb-controller").manifest
    assert (release["chart"], release["version"]) == ("aws-load-balancer-controller", "3.5.0")
    assert release["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    assert (release["name"], release["namespace"]) == (
        "aws-load-balancer-controller",
        "kube-system",
    )
    values = release["values"]
    assert (values["region"], values["vpcId"]) == ("us-east-1", "mlstack-vpc-id")
    account = values["serviceAccount"]
    assert account["name"] == "aws-load-balancer-controller" and account["create"] is True
    role = named(graph, "aws:iam/role:Role", "mlstack-lb-controller-irsa-role")
    assert account["annotations"]["eks.amazonaws.com/role-arn"].endswith(role.name)
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    subjects = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == ["system:serviceaccount:kube-system:aws-load-balancer-controller"]


def test_the_controller_gets_exactly_its_published_policy_and_nothing_else() -> None:
    graph = eks_public()
    policy = named(graph, "aws:iam/policy:Policy", "mlstack-lb-controller").manifest
    assert json.loads(policy["policy"]) == json.loads(POLICY_FILE.read_text())
    assert len(policy["policy"]) <= 6144  # IAM's cap on a managed policy
    attached = named(
        graph,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "mlstack-lb-controller-irsa-managed-0",
    ).manifest
    assert attached["role"] == "mlstack-lb-controller-irsa-role"
    assert attached["policyArn"].endswith("mlstack-lb-controller")
    readme = (POLICY_FILE.parent / "README.md").read_text()
    assert f"/{'v' + CHART_VERSION}/docs/install/iam_policy.json" in readme


def test_the_alb_is_internet_facing_https_only_from_the_named_cidrs() -> None:
    graph = eks_public()
    spec = ingress(graph)["spec"]
    assert spec["ingressClassName"] == "alb"
    assert [r["host"] for r in spec["rules"]] == ["api.example.com"]
    assert "tls" not in spec  # TLS ends at the ALB, with the ACM certificate
    alb = {k.removeprefix("alb.ingress.kubernetes.io/"): v for k, v in annotations(graph).items()}
    assert alb["scheme"] == "internet-facing"
    assert alb["target-type"] == "ip"
    assert alb["certificate-arn"] == CERTIFICATE
    assert json.loads(alb["listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert alb["ssl-redirect"] == "443"
    assert alb["ssl-policy"].startswith("ELBSecurityPolicy-TLS13")
    assert alb["inbound-cidrs"] == "198.51.100.0/24"
    assert alb["healthcheck-path"] == "/readyz"


def test_a_rolling_update_behind_the_alb_drops_no_request() -> None:
    graph = eks_public()
    alb = {k.removeprefix("alb.ingress.kubernetes.io/"): v for k, v in annotations(graph).items()}
    idle = int(alb["load-balancer-attributes"].split("idle_timeout.timeout_seconds=")[1][:2])
    delay = int(alb["target-group-attributes"].split("=")[1])
    (api,) = containers(graph, "api")
    drain = api["lifecycle"]["preStop"]["sleep"]["seconds"]
    (_, spec) = next((o, s) for o, s in graph.pod_specs() if o.name == "mlstack-api")
    grace = spec["terminationGracePeriodSeconds"]
    # The pod serves while the ALB deregisters it, then shuts down gracefully; the target group
    # drains that long, and the pod is killed only after both.
    assert drain == DRAIN_SECONDS > 0
    assert delay == drain + GRACEFUL_SHUTDOWN_SECONDS
    assert grace > delay
    # The API keeps idle connections open longer than the ALB does.
    assert int(env_of(api)["KEEP_ALIVE_SECONDS"]) > idle == IDLE_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("graph", "proxies"),
    # The ALB's nodes sit in the load balancer's own subnets; ingress-nginx's pods are what a
    # headless Service's name resolves to: only their X-Forwarded-For is believed.
    [
        (lambda: eks_public(), "10.0.32.0/26,10.0.32.64/26"),
        (public_minikube, "mlstack-ingress-peers.ingress-nginx.svc"),
    ],
    ids=["eks", "minikube"],
)
def test_the_api_limits_each_client_behind_either_entry(graph: Any, proxies: str) -> None:
    (api,) = containers(graph(), "api")
    env = env_of(api)
    assert (int(env["RATE_LIMIT_PER_MINUTE"]), int(env["RATE_LIMIT_BURST"])) == (600, 50)
    assert env["RATE_LIMIT_TRUSTED_PROXIES"] == proxies
    assert api["lifecycle"]["preStop"]["sleep"]["seconds"] == DRAIN_SECONDS
    for today in (eks(), minikube()):
        for container in containers(today, "api"):
            assert "RATE_LIMIT_PER_MINUTE" not in env_of(container)
            assert "lifecycle" not in container


def test_minikube_trusts_the_nginx_controllers_pods_and_no_other_pod() -> None:
    graph = public_minikube(pod_network_cidr="10.42.0.0/16")
    service = graph.one("kubernetes:core/v1:Service", lambda r: r.name == "mlstack-ingress-peers")
    meta, spec = service.manifest["metadata"], service.manifest["spec"]
    # Headless: its name answers the ready controller pods' own addresses, and nothing else's.
    assert (meta["namespace"], spec["clusterIP"], spec["selector"]) == (
        NGINX_NAMESPACE,
        "None",
        NGINX_POD,
    )
    (api,) = containers(graph, "api")
    trusted = env_of(api)["RATE_LIMIT_TRUSTED_PROXIES"]
    assert trusted == f"{meta['name']}.{NGINX_NAMESPACE}.svc"
    assert "10.42.0.0/16" not in trusted


def test_eks_policy_admits_the_load_balancer_subnets_to_the_api_port_only() -> None:
    spec = public_policy(eks_public())["spec"]
    assert spec["podSelector"]["matchLabels"] == API_PODS
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": API_PORT, "protocol": "TCP"}]
    assert rule["from"] == [
        {"ipBlock": {"cidr": "10.0.32.0/26"}},
        {"ipBlock": {"cidr": "10.0.32.64/26"}},
    ]


def test_the_alb_is_placed_in_the_load_balancer_subnets_and_nowhere_else() -> None:
    graph = eks_public()
    placed = annotations(graph)["alb.ingress.kubernetes.io/subnets"].split(",")
    assert placed == subnet_ids(graph, "lb")
    assert not set(placed) & set(subnet_ids(graph, "public"))


def test_on_eks_no_node_or_pod_address_is_a_trusted_proxy_or_a_peer() -> None:
    # The nodes and, with the VPC CNI, every pod take addresses in the node subnets: none of
    # them may reach the API through the ALB's rule, nor name another client in X-Forwarded-For.
    three_zones = {
        "public_subnet_cidrs": ["10.0.0.0/20", "10.0.16.0/20", "10.0.48.0/20"],
        "load_balancer_subnet_cidrs": ["10.0.32.0/27", "10.0.32.32/27", "10.0.32.64/27"],
    }
    graph = program("eks", {**EKS_PUBLIC, **three_zones}, TOKEN)
    (api,) = containers(graph, "api")
    trusted = env_of(api)["RATE_LIMIT_TRUSTED_PROXIES"].split(",")
    (rule,) = public_policy(graph)["spec"]["ingress"]
    peers = [peer["ipBlock"]["cidr"] for peer in rule["from"]]
    assert trusted == peers == three_zones["load_balancer_subnet_cidrs"]
    nodes = [ip_network(c) for c in three_zones["public_subnet_cidrs"]]
    assert not any(ip_network(c).overlaps(node) for c in trusted for node in nodes)


def test_the_ingress_waits_for_the_controllers_webhook() -> None:
    graph = eks_public()
    urns = graph.dependencies_of(graph.one(INGRESS))
    assert any("helm.sh/v3:Release::mlstack-lb-controller" in urn for urn in urns)


def test_eks_exports_the_public_url() -> None:
    assert eks_public().exports["public_url"] == "https://api.example.com/"


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("public_certificate_arn", "public_certificate_arn: is required when public_access is on"),
        ("public_access_cidrs", "public_access_cidrs: is not set; name who may reach"),
        ("public_host", "public_host: 'mlstack.local' is a local name"),
    ],
)
def test_eks_public_needs_a_certificate_named_cidrs_and_a_real_host(
    unset: str, message: str
) -> None:
    with pytest.raises(pulumi.RunError) as stopped:
        run_program("eks", EKS_PUBLIC, TOKEN, unset=(unset,))
    assert message in str(stopped.value)
