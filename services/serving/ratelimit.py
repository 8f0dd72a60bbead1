"""A per-client token bucket as pure ASGI middleware, in front of the door and the routes
(so every request but the probes and scrapes passes it), off unless RATE_LIMIT_PER_MINUTE is set.

The client is the socket peer, or, when the peer is a trusted proxy (RATE_LIMIT_TRUSTED_PROXIES:
the subnets only the load balancer uses, or the DNS name of the ingress controller's pods), the
rightmost X-Forwarded-For hop that is not a trusted proxy: hops further left are whatever the
client chose to send. Written here rather than taken from `limits`/`slowapi`: neither is in the
lock, and a bucket is a few lines that cost a cached forecast one dict lookup. Buckets live in
the process: N replicas admit N times the rate.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from contract.api import proxy_entries

# Probes and scrapes come from the kubelet, the load balancer and Prometheus: never limited.
EXEMPT = frozenset({"/healthz", "/readyz", "/ping", "/health", "/metrics"})
MAX_CLIENTS = 10_000  # buckets kept; the least recently seen go first (a fresh one is full)
# A trusted proxy's DNS name is looked up this often, and a lookup given up after LOOKUP_SECONDS.
REFRESH_SECONDS = 10.0
LOOKUP_SECONDS = 2.0
Address = IPv4Address | IPv6Address
Addresses = frozenset[Address]
log = logging.getLogger("mlstack.serving")


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


async def lookup(name: str) -> Addresses | None:
    """The name's addresses: none when it does not exist (or has no address), None when DNS gave
    no answer (a timeout, a failure)."""
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), LOOKUP_SECONDS
        )
    except socket.gaierror as exc:
        return frozenset() if exc.errno in (socket.EAI_NONAME, socket.EAI_NODATA) else None
    except (TimeoutError, OSError):
        return None
    return frozenset(ip_address(str(info[4][0]).split("%")[0]) for info in found)


class TrustedProxies(Container[Address]):
    """The peers whose X-Forwarded-For is believed: fixed networks, and the addresses DNS names
    resolve to (a headless Service's name: its ready pods), looked up again every REFRESH_SECONDS
    so a replaced pod is trusted at its new address and no longer at its old one. A name that
    does not exist trusts nothing; while DNS does not answer, the last answer holds."""

    def __init__(
        self,
        text: str,
        resolve: Callable[[str], Awaitable[Addresses | None]] = lookup,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        entries = proxy_entries(text)
        self.networks = tuple(e for e in entries if not isinstance(e, str))
        self.names = tuple(e for e in entries if isinstance(e, str))
        self.resolve = resolve
        self.clock = clock
        self.resolved: dict[str, Addresses] = {}
        self.addresses: Addresses = frozenset()
        self.next_lookup = -math.inf
        self.looking: asyncio.Task[None] | None = None

    def __contains__(self, address: object) -> bool:
        return address in self.addresses or any(address in net for net in self.networks)

    def due(self) -> bool:
        return bool(self.names) and self.looking is None and self.clock() >= self.next_lookup

    async def refresh(self) -> None:
        """Look the names up: the first time before going on (nothing is trusted by name until
        then), later in the background."""
        first = self.next_lookup == -math.inf
        self.next_lookup = self.clock() + REFRESH_SECONDS
        if first:
            await self.lookup()
            return
        self.looking = asyncio.get_running_loop().create_task(self.lookup())
        self.looking.add_done_callback(lambda _: setattr(self, "looking", None))

    async def lookup(self) -> None:
        for name in self.names:
            found = await self.resolve(name)
            if found is None:
                log.warning("trusted proxy %s: DNS gave no answer; keeping the last one", name)
            elif found != self.resolved.get(name):
                self.resolved[name] = found
                shown = ", ".join(sorted(map(str, found))) or "no address (trusted: none)"
                log.info("trusted proxy %s: %s", name, shown)
        self.addresses = frozenset().union(*self.resolved.values())


def _address(text: str) -> Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def client_of(scope: Scope, trusted: Container[Address]) -> str:
    """The client's address: the peer, unless it is a trusted proxy (see the module docstring)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not _trusted(_address(peer), trusted):
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


def _trusted(address: Address | None, trusted: Container[Address]) -> bool:
    return address is not None and address in trusted


class RateLimit:
    """Answers 429 with Retry-After (whole seconds) once a client's bucket is empty."""

    def __init__(
        self, app: ASGIApp, buckets: TokenBuckets, trusted: TrustedProxies | None = None
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.trusted = trusted if trusted is not None else TrustedProxies("")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.trusted.due():
            await self.trusted.refresh()
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
