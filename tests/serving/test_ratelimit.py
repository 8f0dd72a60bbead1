"""The per-client rate limit (services/serving/ratelimit.py): off by default; on, a client past
its burst gets 429 with Retry-After, on the forecast routes and the others alike, while other
clients, probes and scrapes pass."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from services.serving.app import create_app
from services.serving.ratelimit import (
    REFRESH_SECONDS,
    Addresses,
    RateLimit,
    TokenBuckets,
    TrustedProxies,
    client_of,
)
from services.serving.settings import Settings
from tests.factories import wait_for

from .conftest import Promoted
from .factories import sample, settings

BURST = 3
PREDICT = {"horizon": 2}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_admits_its_burst_then_says_when_the_next_token_is_due() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=BURST, clock=clock)
    assert [buckets.take("a") for _ in range(BURST)] == [0.0] * BURST
    assert buckets.take("a") == pytest.approx(1.0)  # one a second
    clock.now += 0.5
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    clock.now += 3600  # refills to the burst, never beyond it
    assert [buckets.take("a") for _ in range(BURST + 1)].count(0.0) == BURST


def test_each_client_has_its_own_bucket_and_the_oldest_are_forgotten_first() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1, clock=Clock(), max_clients=2)
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    assert buckets.take("b") == 0.0
    assert buckets.take("c") == 0.0  # evicts "a", the least recently seen
    assert set(buckets.buckets) == {"b", "c"}


def scope(peer: str, forwarded: str | None = None, path: str = "/predict") -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "path": path, "client": (peer, 1234), "headers": headers}


TRUSTED = TrustedProxies("10.0.0.0/16")


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() -> None:
    # An untrusted peer cannot name another client by sending the header itself.
    assert client_of(scope("203.0.113.9", "198.51.100.1"), TRUSTED) == "203.0.113.9"
    assert client_of(scope("10.0.3.4"), TRUSTED) == "10.0.3.4"
    # Behind the load balancer: the rightmost hop it did not add itself.
    assert client_of(scope("10.0.3.4", "1.2.3.4, 198.51.100.7"), TRUSTED) == "198.51.100.7"
    assert client_of(scope("10.0.3.4", "198.51.100.7, 10.0.9.9"), TRUSTED) == "198.51.100.7"
    # Garbage left of the trusted hops is the client's own text: never a key it could rotate.
    assert client_of(scope("10.0.3.4", "not-an-ip"), TRUSTED) == "10.0.3.4"
    assert client_of(scope("10.0.3.4", "198.51.100.7"), ()) == "10.0.3.4"


def test_trusted_proxies_are_networks_addresses_or_dns_names_and_nothing_else() -> None:
    given = "10.0.0.0/16, 10.1.2.3, mlstack-ingress-peers.ingress-nginx.svc"
    assert Settings(rate_limit_trusted_proxies=given).rate_limit_trusted_proxies == given
    for wrong in ("10.0.0.0/33", "10.0.0.300", "not a network", "proxy_1.example"):
        with pytest.raises(ValidationError, match=f"{wrong!r} is neither a CIDR"):
            Settings(rate_limit_trusted_proxies=f"10.0.0.0/16, {wrong}")


def run(app: RateLimit, request: dict[str, Any]) -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(request, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], dict(sent[0].get("headers", []))


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_clients_behind_the_same_proxy_are_limited_apart() -> None:
    app = RateLimit(ok, TokenBuckets(60, 1, Clock()), TRUSTED)
    assert run(app, scope("10.0.1.1", "198.51.100.1"))[0] == 200
    status, headers = run(app, scope("10.0.2.2", "198.51.100.1"))  # another ALB node, same client
    assert (status, headers[b"retry-after"]) == (429, b"1")
    assert run(app, scope("10.0.1.1", "198.51.100.2"))[0] == 200


def test_a_trusted_name_is_trusted_at_the_addresses_it_resolves_to() -> None:
    # Looked up for real: localhost is this machine's loopback; the .invalid name never exists.
    behind = RateLimit(ok, TokenBuckets(60, 1, Clock()), TrustedProxies("localhost"))
    assert run(behind, scope("127.0.0.1", "198.51.100.1"))[0] == 200
    assert run(behind, scope("127.0.0.1", "198.51.100.2"))[0] == 200  # another client
    assert run(behind, scope("127.0.0.1", "198.51.100.1"))[0] == 429
    nowhere = RateLimit(ok, TokenBuckets(60, 1, Clock()), TrustedProxies("nowhere.invalid"))
    assert run(nowhere, scope("127.0.0.1", "198.51.100.1"))[0] == 200
    assert run(nowhere, scope("127.0.0.1", "198.51.100.2"))[0] == 429  # the peer's own bucket


class Dns:
    """Answers as a cluster's DNS would for a headless Service, changed at will."""

    def __init__(self, *addresses: str) -> None:
        self.answer: Addresses | None = frozenset(map(ip_address, addresses))
        self.asked = 0

    async def __call__(self, name: str) -> Addresses | None:
        self.asked += 1
        return self.answer


def test_names_are_looked_up_again_so_a_replaced_pod_is_trusted_at_its_new_address_only() -> None:
    dns, clock = Dns("10.244.0.5"), Clock()
    trusted = TrustedProxies("ingress.example, 192.0.2.0/24", resolve=dns, clock=clock)
    old, new = ip_address("10.244.0.5"), ip_address("10.244.0.9")

    async def scenario() -> None:
        assert trusted.due() and old not in trusted
        await trusted.refresh()  # the first lookup is awaited
        assert old in trusted and ip_address("192.0.2.7") in trusted and not trusted.due()
        dns.answer = frozenset({new})  # the controller's pod was replaced
        clock.now += REFRESH_SECONDS
        await trusted.refresh()  # later ones run beside the requests
        assert trusted.looking is not None and not trusted.due()
        await trusted.looking
        assert new in trusted and old not in trusted
        dns.answer = None  # DNS does not answer: the last answer holds
        clock.now += REFRESH_SECONDS
        await trusted.lookup()
        assert new in trusted
        dns.answer = frozenset()  # the name is gone: nobody is trusted by it
        await trusted.lookup()
        assert new not in trusted and ip_address("192.0.2.7") in trusted

    asyncio.run(scenario())
    assert dns.asked == 4


def test_only_the_first_lookup_holds_a_request_even_while_dns_is_down() -> None:
    dns, clock = Dns(), Clock()
    dns.answer = None  # no answer from the start
    trusted = TrustedProxies("ingress.example", resolve=dns, clock=clock)

    async def scenario() -> None:
        await trusted.refresh()
        assert trusted.looking is None and not trusted.addresses
        clock.now += REFRESH_SECONDS
        await trusted.refresh()
        assert trusted.looking is not None  # beside the requests, not in front of one
        await trusted.looking

    asyncio.run(scenario())
    assert dns.asked == 2


def test_probes_and_scrapes_are_never_limited() -> None:
    app = RateLimit(ok, TokenBuckets(60, 1, Clock()))
    for path in ("/healthz", "/readyz", "/metrics") * 5:
        assert run(app, scope("203.0.113.9", path=path))[0] == 200


@pytest.fixture(scope="module")
def limited(promoted: Promoted) -> Iterator[tuple[TestClient, CollectorRegistry]]:
    registry = CollectorRegistry()
    app = create_app(
        settings(promoted.uri, promoted.name, rate_limit_per_minute=6, rate_limit_burst=BURST),
        registry=registry,
    )
    with TestClient(app) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the model to load")
        yield client, registry


def test_the_limit_is_off_by_default(promoted: Promoted) -> None:
    assert Settings().rate_limit_per_minute == 0
    app = create_app(settings(promoted.uri, promoted.name), registry=CollectorRegistry())
    with TestClient(app) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the model to load")
        codes = {client.post("/predict", json=PREDICT).status_code for _ in range(BURST * 5)}
    assert codes == {200}


def test_past_its_burst_a_client_gets_429_with_retry_after_on_every_path(
    limited: tuple[TestClient, CollectorRegistry],
) -> None:
    client, registry = limited
    # A valid forecast and a bad body take from one bucket.
    first = [client.post("/predict", json=PREDICT).status_code for _ in range(BURST - 1)]
    assert first == [200] * (BURST - 1)
    assert client.post("/predict", json={"horizon": "x"}).status_code == 422
    for path, body in (("/predict", PREDICT), ("/invocations", {"inputs": {"n_periods": [2]}})):
        refused = client.post(path, json=body)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1  # 6 a minute: one every 10 s
        assert "retry after" in refused.json()["detail"]
    assert client.get("/model").status_code == 429
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200
    counted = sample(
        registry,
        "http_requests_total",
        {"handler": "none", "method": "POST", "status": "429"},
    )
    assert counted >= 2  # the 429s are in the request metrics
