"""What the follower says and records of the registry while it cannot be read (issue 32, item
11): never that something is served when nothing is, and whether the last look reached it."""

from __future__ import annotations

import logging

import pytest

from .test_follower import Rig, poll
from .test_follower import rig as rig  # the fixture


def test_an_outage_with_nothing_loaded_and_no_cache_says_nothing_is_served(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.registry.down = True
    with caplog.at_level(logging.INFO, logger="mlstack.serving"):
        poll(rig.follower, 3)
    (line,) = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert "nothing loaded" in line and "503" in line, line


def test_the_holder_knows_whether_the_last_look_reached_the_registry(rig: Rig) -> None:
    rig.registry.alias = "1"
    poll(rig.follower)
    assert rig.holder.registry_reachable
    rig.registry.down = True
    poll(rig.follower)
    assert not rig.holder.registry_reachable and rig.version() == "1"
    rig.registry.down = False
    poll(rig.follower)
    assert rig.holder.registry_reachable
