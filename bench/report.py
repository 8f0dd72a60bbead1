"""Tables and the issue's target ratios, computed from one run's measurements."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> None:
    """`data` as indented JSON at `path`, its folder made if missing (`bench-results/` on a
    fresh clone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain aligned text table (numbers right-aligned), with an optional title line."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        )

    out = [title] if title else []
    out += [line(list(headers)), "  ".join("-" * w for w in widths), *(line(r) for r in cells)]
    return "\n".join(s.rstrip() for s in out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return (
            f"{value:,.0f}"
            if abs(value) >= 1000
            else f"{value:.3g}"
            if abs(value) < 10
            else f"{value:.1f}"
        )
    return str(value)


@dataclass(frozen=True)
class Target:
    name: str
    measured: float
    bound: float
    at_least: bool  # True: measured >= bound passes; False: measured <= bound passes

    @property
    def met(self) -> bool:
        return self.measured >= self.bound if self.at_least else self.measured <= self.bound

    def row(self) -> list[Any]:
        return [
            self.name,
            round(self.measured, 3),
            ("≥ " if self.at_least else "≤ ") + f"{self.bound:g}",
            self.met,
        ]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def ratio(a: float, b: float) -> float:
    """a / b, with a zero denominator giving infinity rather than an exception."""
    return a / b if b else float("inf")


def serving_targets(rows: Mapping[str, Mapping[str, Any]]) -> list[Target]:
    """The side-by-side targets from rows keyed "api", "mlflow", "floor" (each with c1/c32 runs,
    rss_mb and cold_start_s)."""
    api, mlflow, floor = rows["api"], rows["mlflow"], rows["floor"]
    return [
        Target(
            "c32 throughput: api / mlflow", ratio(api["c32"]["rps"], mlflow["c32"]["rps"]), 20, True
        ),
        Target(
            "c32 p99: mlflow / api", ratio(mlflow["c32"]["p99_ms"], api["c32"]["p99_ms"]), 20, True
        ),
        Target("c1 p50: mlflow / api", ratio(mlflow["c1"]["p50_ms"], api["c1"]["p50_ms"]), 5, True),
        Target(
            "c32 throughput: api / floor", ratio(api["c32"]["rps"], floor["c32"]["rps"]), 0.5, True
        ),
        Target(
            "cold start: api / mlflow",
            ratio(api["cold_start_s"], mlflow["cold_start_s"]),
            0.5,
            False,
        ),
        Target("RSS: api / mlflow", ratio(api["rss_mb"], mlflow["rss_mb"]), 0.5, False),
    ]


def cache_off_target(p50_ms: float, predict_ms: float) -> Target:
    """Cache off, concurrency 1: the API's p50 above the model's own in-process predict time."""
    return Target("cache off c1 p50 - in-process predict (ms)", p50_ms - predict_ms, 0.5, False)


def many_series_targets(series: int, load_s: float, added_mb: float) -> list[Target]:
    """A model of many series: `load_folder`'s time, and the API's RSS with it loaded less the
    API's with the one-series model."""
    return [
        Target(f"{series:,}-series model: load s", load_s, 2, False),
        Target(f"{series:,}-series model: API RSS added MB", added_mb, 100, False),
    ]
