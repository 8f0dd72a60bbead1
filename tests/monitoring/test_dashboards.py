"""Dashboards: generated, parseable, on the chart's Prometheus, with the panels asked for."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import monitoring
from monitoring import grafana
from tests.monitoring.promql import (
    as_promql,
    dashboard_queries,
    label_value,
    metric_names,
    selectors,
)

BOARDS = monitoring.dashboard_models()
PANELS = [
    (name, panel)
    for name, board in BOARDS.items()
    for panel in board["panels"]
    if panel["type"] != "row"
]


def test_checked_in_dashboards_are_what_the_generator_writes() -> None:
    # Regenerate with `python -m monitoring.grafana` after editing a panel.
    assert set(monitoring.dashboards()) == set(grafana.DASHBOARDS)
    for name, text in monitoring.dashboards().items():
        assert text == grafana.render(grafana.DASHBOARDS[name]), f"{name} is out of date"


def test_every_dashboard_query_parses_in_promtool(promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries()
    rules = [{"record": f"dashboard:query:{i}", "expr": q.expr} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard_queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


@pytest.mark.parametrize("query", dashboard_queries(), ids=lambda q: q.source)
def test_every_dashboard_query_selects_only_the_api_job(query: Any) -> None:
    found = selectors(query.expr)
    assert found, "a panel query reads no series"
    for selector in found:
        assert label_value(selector, "job") == monitoring.API_JOB, selector


def test_the_api_dashboard_has_traffic_errors_latency_in_flight_and_pods() -> None:
    titles = {p["title"] for p in BOARDS["api.json"]["panels"]}
    assert titles >= {
        "Request rate by route",
        "Error ratio",
        "Latency p50 / p95 / p99 by route",
        "In-flight requests",
        "Pods up",
    }
    latency = _panel("api.json", "Latency p50 / p95 / p99 by route")
    assert [t["legendFormat"].split()[0] for t in latency["targets"]] == ["p50", "p95", "p99"]
    assert all("handler" in t["expr"] for t in latency["targets"])


def test_the_model_dashboard_has_version_reloads_load_time_age_and_forecast_distributions() -> None:
    titles = {p["title"] for p in BOARDS["model.json"]["panels"]}
    assert titles >= {
        "Served version over time",
        "Reloads and load failures",
        "Load duration",
        "Time since the served model was trained",
        "Forecast horizon",
        "Forecast value distribution",
    }
    reloads = _panel("model.json", "Reloads and load failures")["targets"][0]["expr"]
    assert "by (result)" in reloads  # failures are told apart from successes


@pytest.mark.parametrize(("board", "panel"), PANELS, ids=[f"{b}/{p['title']}" for b, p in PANELS])
def test_every_panel_reads_the_dashboard_s_prometheus_datasource(board: str, panel: Any) -> None:
    assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_the_datasource_variable_defaults_to_the_chart_s_prometheus(name: str) -> None:
    (variable,) = BOARDS[name]["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    assert variable["current"]["value"] == "prometheus"  # the uid the chart provisions


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in BOARDS[name]["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
    ids = [p["id"] for p in BOARDS[name]["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboard_uids_are_stable_and_distinct(name: str) -> None:
    assert BOARDS[name]["uid"] == grafana.DASHBOARDS[name]["uid"]
    assert len({b["uid"] for b in BOARDS.values()}) == len(BOARDS)


def _panel(board: str, title: str) -> dict[str, Any]:
    (panel,) = [p for p in BOARDS[board]["panels"] if p["title"] == title]
    return panel


def _row_panels(board: str, row: str) -> list[dict[str, Any]]:
    """The panels under the row heading `row`, up to the next heading."""
    panels = BOARDS[board]["panels"]
    (start,) = [i for i, p in enumerate(panels) if p["type"] == "row" and p["title"] == row]
    found = []
    for panel in panels[start + 1 :]:
        if panel["type"] == "row":
            break
        found.append(panel)
    return found


def test_the_model_dashboard_has_a_forecast_accuracy_row_over_every_accuracy_gauge() -> None:
    panels = {p["title"]: p for p in _row_panels("model.json", "Forecast accuracy")}
    assert set(panels) == {
        "Realised vs backtest SMAPE",
        "Interval coverage vs nominal level",
        "Points scored",
        "Time since last scored",
        "Champion against challengers",
        "Challengers better on evidence",
    }
    read = {
        name: {m for t in panel["targets"] for m in metric_names(as_promql(t["expr"]))}
        for name, panel in panels.items()
    }
    assert read["Realised vs backtest SMAPE"] >= {"model_realised_smape", "model_backtest_smape"}
    assert read["Interval coverage vs nominal level"] == {
        "model_interval_coverage",
        "model_interval_level",
    }
    assert read["Points scored"] == {"model_realised_points"}
    assert read["Time since last scored"] == {"model_last_scored_timestamp_seconds"}
    assert read["Champion against challengers"] == {
        "model_best_challenger_smape",
        "model_best_challenger_champion_smape",
    }
    assert read["Challengers better on evidence"] == {
        "model_challengers_better",
        "model_challengers_kept_out",
    }
    # The threshold line is the ratio the alert reads, not a copy of its default.
    threshold = panels["Realised vs backtest SMAPE"]["targets"][2]["expr"]
    assert monitoring.DEGRADATION_RATIO_RULE in threshold
    # Grouped by model and version only: a panel never splits by pod or series.
    for panel in panels.values():
        for target in panel["targets"]:
            assert "instance" not in target["expr"] and "unique_id" not in target["expr"]
