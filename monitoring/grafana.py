"""Builds the checked-in Grafana dashboards (`dashboards/*.json`) from the panel lists in
`monitoring.panels`.

Run `python -m monitoring.grafana` after changing a panel; a test fails when
the JSON files and these modules disagree.
"""

from __future__ import annotations

import json
from typing import Any

from monitoring import DASHBOARDS_DIR
from monitoring.panels import ACCURACY_PANELS, API_PANELS, MODEL_PANELS, Panel, Row, Target

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _target(target: Target, ref: str) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": DATASOURCE,
        "expr": target.expr,
        "legendFormat": target.legend,
        "format": "heatmap" if target.heatmap else "time_series",
        "range": True,
    }


def _panel(panel: Panel, panel_id: int, pos: dict[str, int]) -> dict[str, Any]:
    options: dict[str, Any] = {"legend": {"displayMode": "list", "placement": "bottom"}}
    if panel.kind == "stat":
        options = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    if panel.kind == "heatmap":
        options = {"calculate": False, "yAxis": {"unit": "short"}, "cellGap": 1}
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": pos,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {**options, **panel.options},
        "targets": [_target(t, chr(ord("A") + i)) for i, t in enumerate(panel.targets)],
    }


def _row(row: Row, panel_id: int, pos: dict[str, int]) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "row",
        "title": row.title,
        "collapsed": False,
        "gridPos": pos,
        "panels": [],
    }


def _layout(panels: tuple[Panel | Row, ...]) -> list[dict[str, Any]]:
    """Place panels left to right on Grafana's 24-column grid, wrapping to a new row; a `Row`
    always starts a line of its own."""
    out, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > 24 or (isinstance(panel, Row) and x > 0):
            x, y, row_height = 0, y + row_height, 0
        pos = {"x": x, "y": y, "w": panel.width, "h": panel.height}
        out.append(
            _row(panel, panel_id, pos) if isinstance(panel, Row) else _panel(panel, panel_id, pos)
        )
        x, row_height = x + panel.width, max(row_height, panel.height)
    return out


def dashboard(uid: str, title: str, panels: tuple[Panel | Row, ...]) -> dict[str, Any]:
    """A Grafana dashboard model whose panels read the Prometheus picked in `$datasource`."""
    return {
        "uid": uid,
        "title": title,
        "tags": ["mlstack"],
        "timezone": "browser",
        "editable": True,
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    # The chart provisions its Prometheus as the default datasource, uid
                    # "prometheus"; the variable lets a user pick another one.
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                }
            ]
        },
        "panels": _layout(panels),
    }


DASHBOARDS = {
    "api.json": dashboard("mlstack-api", "mlstack / API", API_PANELS),
    "model.json": dashboard("mlstack-model", "mlstack / Model", MODEL_PANELS + ACCURACY_PANELS),
}


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2) + "\n"


def main() -> None:
    """Write every dashboard to `dashboards/`."""
    DASHBOARDS_DIR.mkdir(exist_ok=True)
    for name, model in DASHBOARDS.items():
        (DASHBOARDS_DIR / name).write_text(render(model))


if __name__ == "__main__":
    main()
