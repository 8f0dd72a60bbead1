"""The Grafana dashboards' panels, as data: each panel's title, description and PromQL over the
metrics the API exports (selected by the `mlstack-api` job, at Grafana's `$__rate_interval`).
`monitoring.grafana` lays them out and writes the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitoring import API_JOB, DEGRADATION_RATIO_RULE

JOB = f'job="{API_JOB}"'
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str
    heatmap: bool = False  # `le` buckets drawn as a heatmap rather than lines


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    targets: tuple[Target, ...]
    kind: str = "timeseries"  # timeseries | stat | heatmap
    unit: str = "short"
    width: int = 12
    height: int = 8
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A row heading: the panels after it, up to the next row, are its panels."""

    title: str
    width: int = 24
    height: int = 1


def _quantiles(metric: str, by: str, legend: str) -> tuple[Target, ...]:
    return tuple(
        Target(
            f"histogram_quantile({q}, sum by (le{by}) (rate({metric}_bucket{{{JOB}}}[{RATE}])))",
            f"p{round(q * 100)}{legend}",
        )
        for q in (0.5, 0.95, 0.99)
    )


def _ratio(status: str) -> str:
    # `or vector(0)`: a ratio of 0 rather than "no data" while there are no errors.
    errors = f'sum(rate(http_requests_total{{{JOB}, status=~"{status}"}}[{RATE}]))'
    return f"({errors} or vector(0)) / sum(rate(http_requests_total{{{JOB}}}[{RATE}]))"


API_PANELS = (
    Panel(
        "Request rate by route",
        "Requests per second, by route.",
        (Target(f"sum by (handler) (rate(http_requests_total{{{JOB}}}[{RATE}]))", "{{handler}}"),),
        unit="reqps",
    ),
    Panel(
        "Error ratio",
        "Share of requests answered 5xx (server faults) and 4xx (client mistakes).",
        (Target(_ratio("5.."), "5xx"), Target(_ratio("4.."), "4xx")),
        unit="percentunit",
    ),
    Panel(
        "Latency p50 / p95 / p99 by route",
        "Request duration quantiles per route, from the request duration histogram.",
        _quantiles("http_request_duration_seconds", ", handler", " {{handler}}"),
        unit="s",
        width=24,
    ),
    Panel(
        "Errors by route and status",
        "4xx and 5xx answers per second, by route and status.",
        (
            Target(
                f'sum by (handler, status) (rate(http_requests_total{{{JOB}, status=~"[45].."}}'
                f"[{RATE}]))",
                "{{handler}} {{status}}",
            ),
        ),
        unit="reqps",
    ),
    Panel(
        "In-flight requests",
        "Requests being served right now, per pod.",
        (Target(f"sum by (instance) (http_requests_in_progress{{{JOB}}})", "{{instance}}"),),
        width=6,
    ),
    Panel(
        "Pods up",
        "API pods Prometheus scrapes successfully.",
        (Target(f"sum(up{{{JOB}}})", "pods up"),),
        kind="stat",
        width=6,
    ),
)

MODEL_PANELS = (
    Panel(
        "Served model",
        "Name, version and run of the model each pod serves, and where it was loaded from "
        "(cache: the local model cache, while the registry is unreachable).",
        (
            Target(
                f"max by (model_name, model_version, run_id, source) (model_info{{{JOB}}})",
                "{{model_name}} v{{model_version}} (run {{run_id}}, {{source}})",
            ),
        ),
        kind="stat",
        width=16,
        height=5,
        options={"textMode": "name"},
    ),
    Panel(
        "Pods with a model loaded",
        "Pods that can answer predictions; 0 means every prediction gets 503.",
        (Target(f"sum(model_loaded{{{JOB}}})", "loaded"),),
        kind="stat",
        width=8,
        height=5,
    ),
    Panel(
        "Served version over time",
        "Pods serving each model version: a promotion shows as one line handing over to another.",
        (Target(f"count by (model_version) (model_info{{{JOB}}} == 1)", "v{{model_version}}"),),
    ),
    Panel(
        "Reloads and load failures",
        "Model reloads by result, and failed calls to the MLflow registry.",
        (
            Target(
                f"sum by (result) (increase(model_reloads_total{{{JOB}}}[{RATE}]))",
                "reload {{result}}",
            ),
            Target(
                f"sum(increase(model_registry_errors_total{{{JOB}}}[{RATE}]))", "registry errors"
            ),
        ),
    ),
    Panel(
        "Load duration",
        "How long the last model load took (download, load and warm-up), per pod.",
        (Target(f"max by (instance) (model_load_duration_seconds{{{JOB}}})", "{{instance}}"),),
        unit="s",
        width=8,
    ),
    Panel(
        "Time since the served model was trained",
        "Age of the served model's training run; alerts fire past 7 and 30 days.",
        (Target(f"time() - max(model_trained_timestamp_seconds{{{JOB}}} > 0)", "age"),),
        kind="stat",
        unit="s",
        width=8,
    ),
    Panel(
        "Time since the model was loaded",
        "Time since the most recent model load on any pod.",
        (Target(f"time() - max(model_load_timestamp_seconds{{{JOB}}} > 0)", "since load"),),
        kind="stat",
        unit="s",
        width=8,
    ),
    Panel(
        "Forecast horizon",
        "Distribution of requested horizons (periods per forecast).",
        (
            Target(
                f"sum by (le) (increase(forecast_horizon_bucket{{{JOB}}}[{RATE}]))",
                "{{le}}",
                heatmap=True,
            ),
        ),
        kind="heatmap",
    ),
    Panel(
        "Forecast value distribution",
        "Distribution of the point forecasts (yhat) the model returns; a shift means drift.",
        (
            Target(
                f"sum by (le) (increase(forecast_value_bucket{{{JOB}}}[{RATE}]))",
                "{{le}}",
                heatmap=True,
            ),
        ),
        kind="heatmap",
    ),
    Panel(
        "Forecast value p50 / p95 / p99",
        "Quantiles of the point forecasts over time.",
        _quantiles("forecast_value", "", ""),
        width=24,
    ),
)


def _by_version(metric: str) -> str:
    """One series per served version, however many pods export it."""
    return f"max by (model_name, model_version) ({metric}{{{JOB}}})"


# From the tags `mlstack score` writes on the served version, re-read on every registry poll;
# nothing shows until the version is first scored.
ACCURACY_PANELS: tuple[Panel | Row, ...] = (
    Row("Forecast accuracy"),
    Panel(
        "Realised vs backtest SMAPE",
        "SMAPE of the served forecasts against the actuals, at each scoring, beside the "
        "version's backtest SMAPE; MlstackForecastDegraded fires above the threshold line "
        "(backtest times the degradation ratio) for 30 minutes.",
        (
            Target(_by_version("model_realised_smape"), "realised v{{model_version}}"),
            Target(_by_version("model_backtest_smape"), "backtest v{{model_version}}"),
            Target(
                f"{_by_version('model_backtest_smape')}"
                f" * scalar(max({DEGRADATION_RATIO_RULE}{{{JOB}}}))",
                "alert threshold v{{model_version}}",
            ),
        ),
        unit="percent",
    ),
    Panel(
        "Interval coverage vs nominal level",
        "Share of the scored actuals inside the prediction intervals, against the intervals' "
        "nominal level; MlstackIntervalsMiscalibrated fires 15 points below it.",
        (
            Target(_by_version("model_interval_coverage"), "coverage v{{model_version}}"),
            Target(_by_version("model_interval_level"), "nominal level v{{model_version}}"),
        ),
        unit="percentunit",
    ),
    Panel(
        "Points scored",
        "Actuals (over all series) the last scoring compared with the served forecasts.",
        (Target(_by_version("model_realised_points"), "v{{model_version}}"),),
        kind="stat",
        height=5,
    ),
    Panel(
        "Time since last scored",
        "Time since the model was last scored against actuals; MlstackForecastNotScored fires "
        "past the time the score schedule allows.",
        (
            Target(
                f"time() - max by (model_name) (model_last_scored_timestamp_seconds{{{JOB}}})",
                "{{model_name}}",
            ),
        ),
        kind="stat",
        unit="s",
        height=5,
    ),
    Panel(
        "Champion against challengers",
        "Realised SMAPE of the challenger closest to beating the served version, and the served "
        "version's, on the points both were scored on (shadow scoring, `mlstack score`).",
        (
            Target(
                _by_version("model_best_challenger_smape"), "best challenger of v{{model_version}}"
            ),
            Target(
                _by_version("model_best_challenger_champion_smape"), "champion v{{model_version}}"
            ),
        ),
        unit="percent",
    ),
    Panel(
        "Challengers better on evidence",
        "Challengers better than the served version on the realised evidence, and those the "
        "promotion policy keeps out; MlstackChallengerKeptOut tells when the second stays above 0.",
        (
            Target(_by_version("model_challengers_better"), "better than v{{model_version}}"),
            Target(_by_version("model_challengers_kept_out"), "kept out"),
        ),
        kind="stat",
    ),
)
