"""The minikube stack's pods, run for real with `podman kube play` from the rendered manifests.

The Kubernetes objects are the ones `pulumi up -s minikube` would send (the program under Pulumi's
mocks, tests/k8s/harness.py); `kube.for_kube_play` changes only what podman cannot take. The flow
runs across containers, each with its manifest's user, read-only root filesystem, volumes and
dropped capabilities: MLflow ready, the trainer Job's pod exits 0 and `@prod` exists, the API
answers, and a second trainer pod moves `@prod` while the API serves without a failed request.
What only a cluster proves (Services, NetworkPolicies, CRDs, Helm, scraping) is the job of
.github/workflows/e2e.yml.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from e2e.test_browser import CHROMIUM, CHROMIUM_ARGS

from containers.kube import for_kube_play, pod_spec, service_hostnames, untouched
from containers.podman import Podman
from containers.stack import Rendered, Stack, alias_version, call, env_value, post, running_stack
from contract.demo import DEMO
from infra.pod import SCRATCH_ENV

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

FOLLOW_SECONDS = 120  # the API polls the alias every MODEL_POLL_SECONDS (30 s by default)
WORKLOADS = (("Deployment", "mlflow"), ("Job", "trainer"), ("Deployment", "api"))


@pytest.fixture(scope="module")
def stack(podman: Podman, images: dict[str, str], rendered: Rendered) -> Iterator[Stack]:
    """MLflow ready, the trainer Job's pod exited 0, the API ready; all of it removed afterwards
    (pods, the PVC's volume, the network), whether the tests passed or not."""
    with running_stack(podman, images, rendered, rendered.one("Job", "trainer")) as stack:
        yield stack


def demo_pod(api: dict[str, Any], api_url: str) -> dict[str, Any]:
    """The demo's pod. The stack deploys no demo (it runs against a port-forward), so this is the
    API Deployment's pod, security contexts, scratch volume and resources included, with the
    demo's container from contract/demo.py in place of the API's; API_URL names the API Service
    at the container port, since no kube-proxy maps the Service's port here."""
    pod = copy.deepcopy(api)
    pod["metadata"] = {**pod["metadata"], "name": "mlstack-demo"}
    labels = {**pod["metadata"]["labels"], "app.kubernetes.io/name": DEMO.name}
    pod["metadata"]["labels"] = pod["spec"]["template"]["metadata"]["labels"] = labels
    pod["spec"]["selector"] = {"matchLabels": labels}
    spec = pod["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {**DEMO.env, **SCRATCH_ENV, "API_URL": api_url}
    container.update(
        name=DEMO.name,
        image=container["image"].replace("mlstack-serving", DEMO.image),
        command=list(DEMO.args[:1]),
        args=list(DEMO.args[1:]),
        env=[{"name": k, "value": v} for k, v in sorted(env.items())],
        ports=[{"name": "http", "containerPort": DEMO.port}],
        readinessProbe={"httpGet": {"path": DEMO.ready_path, "port": "http"}},
        livenessProbe={"httpGet": {"path": DEMO.live_path, "port": "http"}},
    )
    container.pop("startupProbe", None)
    return pod


@pytest.fixture(scope="module")
def demo(stack: Stack, rendered: Rendered) -> Stack:
    """The demo pod, ready, against the API pod (removed with the stack)."""
    api = rendered.one("Deployment", "api")
    ip = stack.podman.ip(stack.played["api"].pod, stack.network)
    service = rendered.one("Service", "api")
    stack.hosts.update({h: ip for h in service_hostnames(service)})
    (port,) = service["spec"]["ports"]
    (container,) = pod_spec(api)["containers"]
    (target,) = [p["containerPort"] for p in container["ports"] if p["name"] == port["targetPort"]]
    url = f"http://{service_hostnames(service)[-1]}:{target}"
    stack.play("demo", demo_pod(api, url))
    stack.wait_ready("demo")
    return stack


@pytest.mark.parametrize(("kind", "app"), WORKLOADS)
def test_conversion_keeps_command_env_user_mounts_and_security_context(
    rendered: Rendered, kind: str, app: str
) -> None:
    obj = rendered.one(kind, app)
    images = {c["image"]: "localhost/x:y" for c in pod_spec(obj)["containers"]}
    ports = {p["containerPort"]: 1 for c in pod_spec(obj)["containers"] for p in c.get("ports", [])}
    played = for_kube_play(obj, images, {"svc": "10.0.0.1"}, ports)
    assert untouched(played.manifest) == untouched(obj)
    assert played.manifest["kind"] == ("Pod" if kind == "Job" else kind)
    assert obj == rendered.one(kind, app), "the rendered object itself must not change"
    # What changed is only what the docstring of for_kube_play lists.
    (before,) = pod_spec(obj)["containers"]
    (after,) = pod_spec(played.manifest)["containers"]
    assert set(before) - set(after) <= {"readinessProbe", "livenessProbe", "startupProbe"}
    assert "$(" not in json.dumps([after.get("command"), after.get("args")])


def test_trainer_job_pod_exits_0_and_prod_exists(stack: Stack, rendered: Rendered) -> None:
    model = env_value(rendered.one("Job", "trainer"), "MODEL_NAME")
    assert alias_version(stack.url("mlflow"), model) is not None


def test_api_pod_answers_predict_invocations_and_metrics_for_the_prod_version(
    stack: Stack, rendered: Rendered
) -> None:
    api = rendered.one("Deployment", "api")
    version = alias_version(stack.url("mlflow"), env_value(api, "MODEL_NAME"))
    assert call(stack.probe("api", "livenessProbe"))[0] == 200
    assert call(stack.probe("api", "readinessProbe"))[0] == 200
    status, answer = post(stack.url("api", "/predict"), {"horizon": 12, "level": 0.8})
    assert status == 200, answer
    assert answer["model"]["version"] == version and len(answer["forecast"]) == 12
    assert all(math.isfinite(row["yhat"]) for row in answer["forecast"])
    status, scored = post(
        stack.url("api", "/invocations"),
        {"dataframe_split": {"columns": ["n_periods"], "data": [[6]]}},
    )
    assert status == 200 and len(scored["predictions"]) == 6, scored
    status, metrics = call(stack.url("api", "/metrics"))
    assert status == 200
    assert re.search(
        rf'^model_info{{[^}}]*version="{version}"[^}}]*}} 1\.0$', metrics.decode(), re.M
    )


# Run inside a container: its process's ids and capabilities, and where it can write.
PROBE_SCRIPT = """
import json, sys
status = dict(l.split(":", 1) for l in open("/proc/1/status").read().splitlines())
def writable(path):
    try:
        open(path + "/.write-probe", "w").close()
        return True
    except OSError:
        return False
print(json.dumps({
    "uid": status["Uid"].split(), "gid": status["Gid"].split(),
    "caps": {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")},
    "no_new_privs": status["NoNewPrivs"].strip(),
    "writable": {p: writable(p) for p in sys.argv[1:]},
}))
"""


@pytest.mark.parametrize("app", ["mlflow", "api", "demo"])
def test_container_runs_as_the_manifest_user_read_only_with_no_capabilities(
    demo: Stack, app: str
) -> None:
    stack = demo
    manifest = stack.played[app].manifest
    (container,) = pod_spec(manifest)["containers"]
    pod_security = pod_spec(manifest)["securityContext"]
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    outside = ["/", "/app", "/app/.venv", "/etc", "/usr", "/var", "/home"]
    result = stack.podman.run(
        "exec", stack.containers[app], "python3", "-c", PROBE_SCRIPT, *mounts, *outside
    )
    seen = json.loads(result.stdout)
    uid, gid = str(container["securityContext"]["runAsUser"]), str(pod_security["runAsGroup"])
    assert set(seen["uid"]) == {uid} and set(seen["gid"]) == {gid}
    assert set(seen["caps"].values()) == {"0000000000000000"}
    assert seen["no_new_privs"] == "1"
    assert all(seen["writable"][m] for m in mounts), seen["writable"]  # the declared volumes
    assert not any(seen["writable"][p] for p in outside), seen["writable"]  # nothing else
    info = stack.podman.inspect(stack.containers[app])
    assert info["HostConfig"]["ReadonlyRootfs"] is True


def test_trainer_pod_ran_as_the_manifest_user_read_only_with_no_capabilities(
    stack: Stack, rendered: Rendered
) -> None:
    (container,) = pod_spec(rendered.one("Job", "trainer"))["containers"]
    info = stack.podman.inspect(stack.containers["trainer"])
    assert info["State"]["ExitCode"] == 0
    assert info["Config"]["User"].split(":")[0] == str(container["securityContext"]["runAsUser"])
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["EffectiveCaps"] in (None, [])


def test_demo_pod_answers_its_health_path_and_renders_the_prod_forecast_in_chromium(
    demo: Stack, rendered: Rendered
) -> None:
    assert call(demo.probe("demo", "livenessProbe"))[0] == 200
    version = alias_version(
        demo.url("mlflow"), env_value(rendered.one("Job", "trainer"), "MODEL_NAME")
    )
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing: make test installs it (system-deps)")
        pytest.skip("Debian chromium is missing: make test installs it (system-deps)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(demo.url("demo"))
            expect(page.get_by_test_id("stMetricValue").nth(1)).to_have_text(
                str(version), timeout=120_000
            )
        finally:
            browser.close()


def other_data(days: int = 280) -> bytes:
    """A daily series with a strong weekly cycle: the airline champion's monthly spec refitted on
    it loses to what the trainer finds, so the second trainer pod moves @prod."""
    start = datetime.date(2024, 1, 1)
    rows = ["ds,y"]
    for i in range(days):
        day = (start + datetime.timedelta(days=i)).isoformat()
        y = 200 + 0.3 * i + 40 * math.sin(2 * math.pi * i / 7) + 5 * math.cos(i * 1.7)
        rows.append(f"{day},{y:.3f}")
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def other_data_uri(stack: Stack) -> Iterator[str]:
    """The other data over HTTP from the host, as any http(s):// DATA_URI would come."""
    with stack.data_server(other_data()) as uri:
        yield uri


def test_api_follows_prod_to_a_second_trainer_pod_without_a_failed_request(
    stack: Stack, rendered: Rendered, other_data_uri: str
) -> None:
    job = rendered.one("Job", "trainer")
    model = env_value(job, "MODEL_NAME")
    before = alias_version(stack.url("mlflow"), model)
    second = copy.deepcopy(job)
    (container,) = pod_spec(second)["containers"]
    # What a user re-running the Job on other data would set: the data, and REPLACE_SERVED, as
    # another series is to replace the served one (the guards on what the data is refuse it).
    for env in container["env"]:
        if env["name"] == "DATA_URI":
            env["value"] = other_data_uri
    container["env"].append({"name": "REPLACE_SERVED", "value": "true"})

    failures: list[str] = []
    versions: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        for _ in range(20_000):  # bounded: at most a few requests a second until told to stop
            if stop.is_set():
                return
            try:
                status, answer = post(stack.url("api", "/predict"), {"horizon": 6})
                if status != 200:
                    failures.append(f"{status}: {answer}")
                else:
                    versions.append(answer["model"]["version"])
            except OSError as err:
                failures.append(repr(err))
            time.sleep(0.2)

    load = threading.Thread(target=traffic, daemon=True)
    load.start()
    try:
        code, logs = stack.run_job("trainer-2", second, name="mlstack-trainer-again")
        assert code == 0, f"the second trainer pod exited {code}:\n{logs}"
        after = alias_version(stack.url("mlflow"), model)
        assert after is not None and after != before, f"@prod did not move:\n{logs}"
        deadline = time.monotonic() + FOLLOW_SECONDS
        while time.monotonic() < deadline and (not versions or versions[-1] != after):
            time.sleep(1)
    finally:
        stop.set()
        load.join(timeout=60)
    assert failures == []
    assert versions and versions[-1] == after, f"the API still serves {versions[-1:]}"
    # Old then new, never back: the swap is atomic.
    assert versions == sorted(versions, key=lambda v: v == after)


# ------------------------------------------------------------- public_access: the API's limiter

TOKEN = "a-long-random-token-for-the-pods"


@pytest.fixture(scope="module")
def public(stack: Stack) -> Iterator[Rendered]:
    """Beside the stack's API, its pod as `public_access: true` renders it: the token read from
    its Secret, the limiter on. The host calls it from the pod network's gateway, as
    ingress-nginx's pods would, writing X-Forwarded-For; the name the API learns those pods from
    answers the gateway, as the cluster's DNS answers a headless Service's name with its pods."""
    from k8s.harness import program

    rendered = Rendered.of(program("minikube", {"public_access": True}, {"api_token": TOKEN}))
    api = rendered.one("Deployment", "api")
    (container,) = pod_spec(api)["containers"]
    (name,) = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {}) and e["name"] == "API_TOKEN"
    ]
    (secret,) = [o for o in rendered.objects if o["metadata"]["name"] == name]
    stack.podman.secret(secret)
    stack.hosts[env_value(api, "RATE_LIMIT_TRUSTED_PROXIES")] = stack.gateway()
    stack.play("public", api, name="mlstack-api-public")
    stack.wait_ready("public")
    yield rendered


def predict(stack: Stack, client: str, token: str | None = TOKEN) -> tuple[int, str | None]:
    """POST /predict to the public API pod for `client` (as ingress-nginx forwards it): the
    status and the Retry-After header."""
    req = urllib.request.Request(
        stack.url("public", "/predict"),
        data=json.dumps({"horizon": 3}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": client},
    )
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Retry-After")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Retry-After")


def test_public_api_pod_answers_token_holders_only(stack: Stack, public: Rendered) -> None:
    client = "198.51.100.7"
    assert predict(stack, client, token=None)[0] == 401
    assert predict(stack, client, token="not-the-token")[0] == 401
    assert predict(stack, client)[0] == 200


def test_public_api_pod_limits_each_client_with_429_and_retry_after(
    stack: Stack, public: Rendered
) -> None:
    api = public.one("Deployment", "api")
    burst = int(env_value(api, "RATE_LIMIT_BURST"))
    per_second = int(env_value(api, "RATE_LIMIT_PER_MINUTE")) / 60
    client, other = "203.0.113.10", "203.0.113.11"
    start, passed = time.monotonic(), 0
    for _ in range(20 * burst):  # bounded: the bucket runs dry long before
        status, retry_after = predict(stack, client)
        if status != 200:
            break
        passed += 1
    elapsed = time.monotonic() - start
    assert status == 429, f"{passed} requests passed and no 429 came"
    # The burst passes at once, and beyond it no more than the refill over the elapsed time.
    assert burst <= passed <= burst + per_second * elapsed + 1
    wait = int(retry_after or 0)
    assert wait >= 1
    # Another client, and the probes and scrapes, pass while this one is held back.
    assert predict(stack, other)[0] == 200
    assert call(stack.probe("public", "readinessProbe"))[0] == 200
    assert call(stack.url("public", "/metrics"))[0] == 200
    time.sleep(wait)
    assert predict(stack, client)[0] == 200  # served again once Retry-After has passed
