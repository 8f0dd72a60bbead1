"""`mlstack demo` as a process: where it listens unless told, and what its container tells it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.demo import DEMO
from services.local import process
from tests.local.factories import MLSTACK


def listening_addresses(port: int) -> set[str]:
    """The local IPv4 addresses with a socket listening on `port`, from /proc/net/tcp (state 0A
    is LISTEN; addresses are little-endian hex, so 127.0.0.1 reads 0100007F)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.fixture
def demo_port() -> Iterator[int]:
    """`mlstack demo` as a user starts it, with neither --host nor DEMO_HOST; its port."""
    port = process.free_port()
    env = {k: v for k, v in os.environ.items() if k != "DEMO_HOST"}
    proc = subprocess.Popen(
        [MLSTACK, "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        process.wait_ready(f"http://127.0.0.1:{port}/_stcore/health", proc, timeout=120)
        yield port
    finally:
        process.stop(proc)


def test_demo_listens_on_loopback_only_unless_told_otherwise(demo_port: int) -> None:
    assert listening_addresses(demo_port) == {"127.0.0.1"}


def test_the_demo_container_passes_its_own_host_explicitly() -> None:
    argv = DEMO.command(DEMO.env)  # what the image and a pod run, with the image's environment
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
