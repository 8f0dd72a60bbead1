"""A per-client token bucket as pure ASGI middleware, in front of the door and the routes
(so every request but the probes and scrapes passes it), off unless RATE_LIMIT_PER_MINUTE is set.

The client is the socket peer, or, when the peer is a trusted proxy (RATE_LIMIT_TRUSTED_PROXIES,
e.g. the VPC the load balancer's nodes live in), the rightmost X-Forwarded-For hop that is not a
trusted proxy: hops further left are whatever the client chose to send. Written here rather than
taken from `limits`/`slowapi`: neither is in the lock, and a bucket is a few lines that cost a
cached forecast one dict lookup. Buckets live in the process: N replicas admit N times the rate.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

# Probes and scrapes come from the kubelet, the load balancer and Prometheus: never limited.
EXEMPT = frozenset({"/healthz", "/readyz", "/ping", "/health", "/metrics"})
MAX_CLIENTS = 10_000  # buckets kept; the least recently seen go first (a fresh one is full)
Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


@dataclass
class Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """`burst` requests at once per client, refilled at `per_minute` a minute."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError("per_minute and burst must be at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_clients = max_clients
        self.buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when the request may pass (a token is spent), else the seconds until one is due."""
        now = self.clock()
        bucket = self.buckets.get(client)
        if bucket is None:
            bucket = self.buckets[client] = Bucket(self.burst, now)
            if len(self.buckets) > self.max_clients:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(client)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


def networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (or addresses) as networks; empty for none."""
    from ipaddress import ip_network

    return tuple(ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _address(text: str) -> Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def client_of(scope: Scope, trusted: Sequence[Network]) -> str:
    """The client's address: the peer, unless it is a trusted proxy (see the module docstring)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _trusted(_address(peer), trusted):
        return str(peer)
    hops = [
        hop
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # not written by a proxy we trust: stop at what we know
        if not _trusted(address, trusted):
            return str(address)
    return str(peer)


def _trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in net for net in trusted)


class RateLimit:
    """Answers 429 with Retry-After (whole seconds) once a client's bucket is empty."""

    def __init__(
        self, app: ASGIApp, buckets: TokenBuckets, trusted: Sequence[Network] = ()
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_of(scope, self.trusted))
        if not wait:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        body = orjson.dumps(
            {"detail": f"too many requests from this client; retry after {seconds} s"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(seconds).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
