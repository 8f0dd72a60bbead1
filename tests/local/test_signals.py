"""Stop signals become `Shutdown`, and a held section finishes before the signal is raised."""

from __future__ import annotations

import os
import signal

import pytest

from services.local.signals import Shutdown, SignalGuard


def test_sigterm_raises_shutdown_naming_the_signal() -> None:
    with SignalGuard().installed(), pytest.raises(Shutdown, match="SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_in_a_held_section_is_raised_after_it() -> None:
    guard = SignalGuard()
    finished = []
    with guard.installed(), pytest.raises(Shutdown, match="SIGINT"), guard.held():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("held section ran to its end")
    assert finished == ["held section ran to its end"]


def test_signals_during_teardown_are_only_noted() -> None:
    guard = SignalGuard()
    with guard.installed():
        guard.ignore_more()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert guard.received == signal.SIGINT


def test_previous_handlers_come_back_afterwards() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with SignalGuard().installed():
        assert signal.getsignal(signal.SIGTERM) != before
    assert signal.getsignal(signal.SIGTERM) == before
