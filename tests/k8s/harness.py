"""Run the Pulumi program under `pulumi.runtime.set_mocks` and record what it declares.

Config is loaded as the CLI would: the project's declared defaults from `Pulumi.yaml`, then the
stack file's values, each passed as the string the CLI hands the program (lists as JSON).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "mlflow-serving-stack"


def zones(region: str) -> tuple[str, ...]:
    """The zones the mocked `get_availability_zones` answers for a region."""
    return tuple(f"{region}{letter}" for letter in "abc")


ZONES = zones("us-east-1")
# What AWS answers for the stack's RDS instance and for the cluster security group EKS made.
RDS_ADDRESS = "mlstack-mlflow-db.c0a1b2c3d4e5.us-east-1.rds.amazonaws.com"
CLUSTER_SECURITY_GROUP = "sg-0eks0cluster0000"
K8S_PREFIX = "kubernetes:"
# Who the mocked AWS says the caller is, and in which partition.
ACCOUNT = "123456789012"
PARTITION = "aws"


@dataclass(frozen=True)
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str = ""  # the explicit provider's reference (`<urn>::<id>`); empty for the default

    @property
    def manifest(self) -> dict[str, Any]:
        """The object as `kubectl apply` would get it (the SDK sends apiVersion and kind)."""
        return unsecret(self.inputs)


SECRET_SIG = pulumi.runtime.rpc._special_secret_sig


def is_secret(value: Any) -> bool:
    """Whether a recorded input arrived as a Pulumi secret."""
    return isinstance(value, dict) and value.get(pulumi.runtime.rpc._special_sig_key) == SECRET_SIG


def unsecret(value: Any) -> Any:
    """The recorded inputs with secret wrappers replaced by their values, integers restored."""
    if is_secret(value):
        return unsecret(value["value"])
    if isinstance(value, dict):
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the RPC layer carries every number as a double
    return value


def _known_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs the providers compute, for the types whose outputs the program reads."""
    arn = f"arn:aws:{typ.split(':')[1].split('/')[0]}::123456789012:{name}"
    known: dict[str, dict[str, Any]] = {
        "aws:s3/bucket:Bucket": {"bucket": f"{name}-0a1b2c", "arn": f"arn:aws:s3:::{name}-0a1b2c"},
        "aws:iam/role:Role": {"arn": arn, "name": name},
        "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
        "random:index/randomPassword:RandomPassword": {"result": "generated-password"},
        "random:index/randomId:RandomId": {"hex": "0a1b2c3d"},
        "aws:kms/key:Key": {"arn": arn, "keyId": f"{name}-key-id"},
        "aws:rds/subnetGroup:SubnetGroup": {"arn": arn, "name": name},
        "aws:rds/parameterGroup:ParameterGroup": {"arn": arn, "name": name},
        "aws:rds/instance:Instance": {
            "arn": arn,
            "address": RDS_ADDRESS,
            "endpoint": f"{RDS_ADDRESS}:5432",
        },
        "eks:index:Cluster": {
            "kubeconfig": {"apiVersion": "v1", "kind": "Config"},
            "kubeconfigJson": json.dumps({"apiVersion": "v1", "kind": "Config"}),
            "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1."
            "amazonaws.com/id/EXAMPLE",
            "oidcIssuer": "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
            "oidcProviderUrl": "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
        },
    }
    return known.get(typ, {"arn": arn} if typ.startswith("aws:") else {})


class Recorder(pulumi.runtime.Mocks):
    """Echoes inputs as outputs, fills in computed outputs, and keeps every resource (in the
    order registrations complete, which varies between runs: sort before comparing lists)."""

    def __init__(self, default_region: str = "us-east-1") -> None:
        self.default_region = default_region  # what the default AWS provider (`aws:region`) has
        self.resources: list[Recorded] = []
        # (type, name) -> URNs it waits on, explicitly or through the outputs it reads
        self.dependencies: dict[tuple[str, str], set[str]] = {}
        # (type, name) -> package -> provider reference, as components pass them to children
        self.provider_maps: dict[tuple[str, str], dict[str, str]] = {}
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.retained: set[tuple[str, str]] = set()  # (type, name) that `destroy` leaves in place

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.resources.append(Recorded(args.typ, args.name, inputs, args.provider or ""))
        return f"{args.name}-id", {**inputs, **_known_outputs(args.typ, args.name, inputs)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append(args)
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            # The zones of the region of the provider the lookup went through, as AWS answers.
            names = zones(self._region(args.provider))
            return {"names": list(names), "zoneIds": [f"az{i}" for i in range(len(names))]}
        if args.token == "aws:ec2/getSecurityGroup:getSecurityGroup":
            return {"id": CLUSTER_SECURITY_GROUP, "vpcId": args.args.get("vpcId")}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": PARTITION, "dnsSuffix": "amazonaws.com"}
        return {}

    def _region(self, provider: str) -> str:
        """The region of an explicit AWS provider, else the default provider's (`aws:region`)."""
        name = provider.rsplit("::", 2)[-2] if provider else None
        for r in self.resources:
            if r.typ == "pulumi:providers:aws" and r.name == name:
                return str(r.inputs["region"])
        return self.default_region


class _Monitor(pulumi.runtime.mocks.MockMonitor):
    """Also records each resource's dependencies and whether it is retained on delete (not part
    of `MockResourceArgs`)."""

    def __init__(self, mocks: pulumi.runtime.Mocks, stack: str | None = None) -> None:
        super().__init__(mocks)  # `stack` is accepted for older callers; URNs use the settings

    def SupportsFeature(self, request: Any) -> Any:
        # Resource references (`ManagedNodeGroup(cluster=..., node_role=...)`) go over the wire as
        # plain URNs and IDs: rehydrating them makes the mocks look resources up from executor
        # threads, which can see another run's monitor.
        if request.id == "resourceReferences":
            return type("SupportsFeatureResponse", (), {"hasSupport": False})
        return super().SupportsFeature(request)

    def RegisterResource(self, request: Any) -> Any:
        if isinstance(self.mocks, Recorder):
            self.mocks.dependencies[(request.type, request.name)] = set(request.dependencies)
            self.mocks.provider_maps[(request.type, request.name)] = dict(request.providers)
            if request.retainOnDelete:
                self.mocks.retained.add((request.type, request.name))
        return super().RegisterResource(request)


_AMBIENT = ("monitor", "engine", "project", "stack", "organization", "root_directory", "dry_run")


def _clear_settings() -> None:
    """Reset Pulumi's ambient settings, so the next `set_mocks` also becomes their default.

    Settings live in context variables whose default is the first value ever set; executor
    threads (which rehydrate resource references such as `ManagedNodeGroup(node_role=role)`)
    see only that default, so without this a second run would look resources up in the first
    run's monitor."""
    settings = pulumi.runtime.settings.SETTINGS
    for name in _AMBIENT:
        setattr(settings, name, None)
    settings.feature_support = {}  # answers are cached per monitor


@contextlib.contextmanager
def mocks(recorder: Recorder, stack: str) -> Iterator[Recorder]:
    """Pulumi's mocks for one program run, leaving clean settings for whoever runs next."""
    _clear_settings()
    pulumi.runtime.set_mocks(
        recorder, project=PROJECT, stack=stack, preview=False, monitor=_Monitor(recorder)
    )
    try:
        yield recorder
    finally:
        _clear_settings()


def _as_config(value: Any) -> str:
    """What the CLI hands the program: strings, with lists and maps as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


@functools.cache
def _yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


def stack_config(
    stack: str,
    overrides: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    stack_file: bool = True,
    unset: tuple[str, ...] = (),
) -> tuple[dict[str, str], list[str]]:
    """Project defaults, then `Pulumi.<stack>.yaml` (unless `stack_file` is false), then
    overrides (`aws:region` style keys are kept as given; bare keys get the project namespace);
    `secrets` are set as secrets; `unset` keys are left out altogether, as if no file named them."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    values: dict[str, Any] = {
        f"{PROJECT}:{k}": spec["default"]
        for k, spec in project["config"].items()
        if "default" in spec
    }
    if stack_file:
        values.update(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])

    def full(key: str) -> str:
        return key if ":" in key else f"{PROJECT}:{key}"

    values.update({full(k): v for k, v in (overrides or {}).items()})
    values.update({full(k): v for k, v in (secrets or {}).items()})
    for key in unset:
        values.pop(full(key), None)
    return {k: _as_config(v) for k, v in values.items()}, [full(k) for k in secrets or {}]


EKS_REGION = {"aws:region": "us-east-1"}
# What a user sets before `pulumi up -s eks`, per the README: the region, and who may reach the
# Kubernetes API (a documentation range, the one terraform.tfvars.example uses).
EKS_SETTINGS = {**EKS_REGION, "endpoint_public_access_cidrs": ["203.0.113.0/24"]}
# Public access (`public_access: true`) needs the token; on EKS also a real host, a certificate
# and who may reach the entry (documentation values).
TOKEN = {"api_token": "a-long-random-token-of-32-characters"}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f"
PUBLIC = {
    "public_access": True,
    "public_host": "api.example.com",
    "public_certificate_arn": CERTIFICATE,
    "public_access_cidrs": ["198.51.100.0/24"],
}
EKS_PUBLIC = {**EKS_SETTINGS, **PUBLIC}
# The eks config as `stacks.loading.parse` takes it: what a user sets, images from a registry.
EKS_CONFIG = {
    "target": "eks",
    "region": "us-east-1",
    "mlflow_image": "ghcr.io/o/mlstack-mlflow:1",
    "trainer_image": "ghcr.io/o/mlstack-trainer:1",
    "api_image": "ghcr.io/o/mlstack-serving:1",
    "endpoint_public_access_cidrs": ["203.0.113.0/24"],
}


@dataclass
class Graph:
    """Everything one program run declared, and its exports."""

    resources: list[Recorded]
    exports: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    provider_maps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    calls: list[pulumi.runtime.MockCallArgs] = field(default_factory=list)
    retained: set[tuple[str, str]] = field(default_factory=set)

    def provider(self, ref: str) -> Recorded:
        """The provider resource a reference (`<urn>::<id>`) names."""
        urn, _ = ref.rsplit("::", 1)
        typ, name = urn.split("::")[-2:]
        return self.one(typ.split("$")[-1], lambda r: r.name == name)

    def providers_passed_to(self, resource: Recorded) -> dict[str, str]:
        """The provider references a component hands its children, by package."""
        return self.provider_maps.get((resource.typ, resource.name), {})

    def waits_on(self, name: str, other: str) -> bool:
        """Whether every resource called `name` was registered with a dependency on one called
        `other` (explicit, or through an output of it that it reads)."""
        named = [deps for (_, n), deps in self.dependencies.items() if n == name]
        return bool(named) and all(any(u.endswith(f"::{other}") for u in d) for d in named)

    def dependencies_of(self, resource: Recorded) -> set[str]:
        """The URNs `resource` was registered waiting on."""
        return self.dependencies.get((resource.typ, resource.name), set())

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, predicate: Callable[[Recorded], bool] = lambda r: True) -> Recorded:
        found = [r for r in self.of_type(typ) if predicate(r)]
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]

    def types(self) -> set[str]:
        return {r.typ for r in self.resources}

    def kubernetes_objects(self) -> list[Recorded]:
        return [
            r
            for r in self.resources
            if r.typ.startswith(K8S_PREFIX) and not r.typ.startswith("kubernetes:helm")
        ]

    def pod_specs(self) -> Iterator[tuple[Recorded, dict[str, Any]]]:
        """Every pod template: Deployments, Jobs and CronJobs."""
        for obj in self.kubernetes_objects():
            spec = obj.manifest.get("spec", {})
            if obj.typ == "kubernetes:batch/v1:CronJob":
                spec = spec["jobTemplate"]["spec"]
            if "template" in spec:
                yield obj, spec["template"]["spec"]


def run_program(
    stack: str,
    overrides: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    stack_file: bool = True,
    unset: tuple[str, ...] = (),
) -> Graph:
    """Run the real program (`stacks.build(load(...))`) for a stack file under mocks; with
    `stack_file=False`, from `Pulumi.yaml`'s defaults and the overrides alone; `unset` keys are
    not set at all."""
    import stacks
    from stacks.loading import load

    config, secret_keys = stack_config(stack, overrides, secrets, stack_file, unset)
    recorder = Recorder(config.get("aws:region", "us-east-1"))
    pulumi.runtime.set_mocks(
        recorder, project=PROJECT, stack=stack, preview=False, monitor=_Monitor(recorder, stack)
    )
    pulumi.runtime.set_all_config(config, secret_keys)
    graph = Graph(
        recorder.resources,
        dependencies=recorder.dependencies,
        provider_maps=recorder.provider_maps,
        calls=recorder.calls,
        retained=recorder.retained,
    )

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = stacks.build(load(pulumi.Config()))
        return pulumi.Output.all(**outputs.exports()).apply(graph.exports.update)

    program()
    return graph


def resolve(output: pulumi.Input[Any]) -> Any:
    """The value of an output created under the mocks (only inside `pulumi.runtime.test`)."""
    return pulumi.Output.from_input(output).future()


_RUNS: dict[tuple[str, str, str], Graph] = {}


def program(
    stack: str, overrides: dict[str, Any] | None = None, secrets: dict[str, str] | None = None
) -> Graph:
    """`run_program`, run once per distinct config in the session: a run costs seconds."""
    key = (
        stack,
        json.dumps(overrides or {}, sort_keys=True),
        json.dumps(secrets or {}, sort_keys=True),
    )
    if key not in _RUNS:
        _RUNS[key] = run_program(stack, overrides, secrets)
    return _RUNS[key]


def minikube() -> Graph:
    return program("minikube")


def eks() -> Graph:
    return program("eks", EKS_SETTINGS)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's env as name -> value (or the valueFrom reference)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def containers(graph: Graph, name: str) -> list[dict[str, Any]]:
    """Every container called `name` (a ServiceSpec name) across the graph's pod templates."""
    return [c for _, spec in graph.pod_specs() for c in spec["containers"] if c["name"] == name]


def subnets(graph: Graph, role: str = "public") -> list[Recorded]:
    """The eks VPC's subnets of one role, in zone order: the nodes' (`public`) or the load
    balancer's (`lb`). By name (`-public-0`, `-lb-1`): the mocks record in completion order."""
    found = [s for s in graph.of_type("aws:ec2/subnet:Subnet") if f"-{role}-" in s.name]
    return sorted(found, key=lambda r: int(r.name.rsplit("-", 1)[1]))


def subnet_ids(graph: Graph, role: str = "public") -> list[str]:
    """The mocked IDs of `subnets(graph, role)`, in zone order."""
    return [f"{s.name}-id" for s in subnets(graph, role)]


# The stack and project in a URN depend on the settings of the run, not on the program.
URN_HEAD = re.compile(r"urn:pulumi:[^:]*::[^:]*::")


def signature(graph: Graph) -> list[str]:
    """Every resource's type, name and inputs, and what it waits on (by URN); names repeat under
    different parents, so a sorted list rather than a mapping."""
    return sorted(
        URN_HEAD.sub(
            "urn:",
            json.dumps(
                [r.typ, r.name, r.manifest, sorted(graph.dependencies_of(r))],
                sort_keys=True,
                # Assets (the bucket's data object) compare by the file they point at.
                default=lambda o: getattr(o, "path", repr(o)),
            ),
        )
        for r in graph.resources
    )
