"""The panel-training bench's figures (`paneltraining.py`): per training, its rates beside the
references; the targets they are judged by; and the tables printed."""

from __future__ import annotations

from typing import Any

from bench import m3
from bench.report import Target, ratio, table


def rates(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per training: series/s, per core, the speed-up over 1 worker on the same series, and the
    time per series over the sample's with the same workers."""
    rows, found = [], {(t["series"], t["workers"]): t for t in result["trainings"]}
    sample = min(t["series"] for t in result["trainings"])
    for t in result["trainings"]:
        one, small = found.get((t["series"], 1)), found.get((sample, t["workers"]))
        per_series = t["seconds"] / t["series"]
        rows.append(
            {
                **t,
                "series_per_s": t["series"] / t["seconds"],
                "per_core": t["series"] / t["seconds"] / min(t["workers"], result["cores"]),
                "beyond_fitting_s": t["seconds"] - t["fit_seconds"],
                "speedup": None if one is None else one["seconds"] / t["seconds"],
                "per_series_vs_sample": None
                if small is None or small is t
                else per_series / (small["seconds"] / small["series"]),
            }
        )
    return rows


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The training the targets judge: the most series, with the most workers."""
    return max(rates(result), key=lambda r: (r["series"], r["workers"]))


def targets(result: dict[str, Any]) -> list[Target]:
    """Issue 19: per core at least SCUM's throughput; issue 20: the trainer's forecasts as
    accurate as the m3 section's on the same series (equal, to rounding)."""
    out, best = [], headline(result)
    if "references" in result:
        name = f"panel training {best['series']} series, {best['workers']} workers"
        rate = ratio(best["per_core"], result["references"]["SCUM"])
        out.append(Target(f"{name}: series/s/core / SCUM's", rate, 1.0, True))
    for a in result["accuracy"]:
        if a["m3_section"] is not None:
            rel = ratio(a["trainer"]["smape"], a["m3_section"]["smape"])
            out.append(
                Target(f"M3 {a['series']} panel-trained sMAPE / m3 section's", rel, 1.001, False)
            )
    return out


def panel_training_table(result: dict[str, Any]) -> str:
    headers = [
        "series",
        "workers",
        "wall s",
        "fitting s",
        "beyond fitting s",
        "series/s",
        "series/s/core",
        "speed-up vs 1 worker",
        "s/series vs sample",
        "floor",
        "left out",
    ]
    rows = [
        [
            r["series"],
            r["workers"],
            r["seconds"],
            r["fit_seconds"],
            r["beyond_fitting_s"],
            r["series_per_s"],
            r["per_core"],
            r["speedup"],
            r["per_series_vs_sample"],
            r["floor"],
            r["excluded"],
        ]
        for r in rates(result)
    ]
    title = (
        f"M3 trained through the trainer, one panel and run per frequency ({result['cores']} "
        f"cores; the pool's server started once before, in {result['warm_s']:.1f} s)"
    )
    out = [table(headers, rows, title)]
    best = headline(result)
    if "references" in result:
        label = f"trainer, {best['series']} series, {best['workers']} workers"
        refs = {label: best["per_core"], **result["references"]}
        rows = [[k, v, ratio(best["per_core"], v)] for k, v in refs.items()]
        out.append(
            table(
                ["method", "series/s/core", "trainer / this"],
                rows,
                "Per-core throughput beside the m3 section's (its fitting time per "
                "series, one process each)",
            )
        )
    rows = []
    for a in result["accuracy"]:
        for path in ("trainer", "m3_section"):
            if a[path] is not None:
                what = f"{path.replace('_', ' ')}, {a['series']} series"
                rows.append(
                    [
                        what,
                        a[path]["smape"],
                        *(a[path][f"smape_{t}"] for t in m3.TYPES),
                        a[path]["failed"],
                    ]
                )
    headers = ["path", "sMAPE", *m3.TYPES, "no forecast"]
    out.append(table(headers, rows, "sMAPE on the official M3 holdouts"))
    return "\n\n".join(out)
