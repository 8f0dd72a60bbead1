"""The served version's realised accuracy, end to end over real parts: tags set on a version in
the real MLflow registry, a real `mlstack serve` polling it, its `/metrics` scraped, and the
scraped values fed to promtool with the real alert rules."""

from __future__ import annotations

from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

import monitoring
from services.serving.metrics import ACCURACY, ACCURACY_LABELS
from services.trainer.config import TrainConfig
from services.trainer.run import train
from services.trainer.score import score
from tests.api import RunningApi, running_api
from tests.factories import Scoring, score_version, wait_for
from tests.monitoring.factories import gauge_series, promtool_test
from tests.monitoring.test_rules import firing
from tests.serving.factories import new_version

GAUGES = [metric for metric, _tag, _help in ACCURACY]
GOOD = Scoring(realised_smape=11.0, backtest_smape=10.0, realised_coverage=0.93)
LATER = Scoring(realised_smape=12.5, backtest_smape=10.0, realised_points=240)
BAD = Scoring(realised_smape=42.5, backtest_smape=10.0, realised_coverage=0.61)
Scraped = dict[tuple[str, str], dict[str, float]]  # (name, version) -> metric -> value


def scrape(api: RunningApi) -> Scraped:
    """The accuracy samples on `/metrics`, checking each is labelled by model and version only."""
    found: Scraped = {}
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in GAUGES:
                assert set(sample.labels) == set(ACCURACY_LABELS), sample
                key = (sample.labels["model_name"], sample.labels["model_version"])
                found.setdefault(key, {})[sample.name] = sample.value
    return found


def expected(scoring: Scoring, tags: dict[str, str]) -> dict[str, float]:
    return {
        "model_realised_smape": scoring.realised_smape,
        "model_backtest_smape": scoring.backtest_smape,
        "model_realised_points": float(scoring.realised_points),
        "model_interval_coverage": scoring.realised_coverage,
        "model_interval_level": scoring.interval_level,
        "model_challengers_better": float(scoring.challengers_better),
        "model_challengers_kept_out": float(scoring.challengers_kept_out),
        "model_best_challenger_smape": scoring.best_challenger_smape,
        "model_best_challenger_champion_smape": scoring.best_challenger_champion_smape,
        "model_last_scored_timestamp_seconds": float(tags["scored_at"]),
    }


def alert_case(api: RunningApi, scraped: Scraped) -> dict[str, object]:
    """A promtool case whose input is what was scraped, as Prometheus would store it for an
    hour (the job and instance labels are what the scrape adds)."""
    target = {"job": monitoring.API_JOB, "instance": api.target}
    series = [
        gauge_series(metric, {**target, "model_name": name, "model_version": version}, value, 60)
        for (name, version), values in scraped.items()
        for metric, value in values.items()
    ]
    return {"interval": "1m", "input_series": series, "alert_rule_test": []}


def test_scored_versions_are_exported_and_a_bad_one_fires_forecast_degraded(
    tracking_uri: str, model_name: str, promtool: str, tmp_path: Path
) -> None:
    name = model_name
    good = new_version(tracking_uri, model_name)
    with running_api(tmp_path / "api", tracking_uri, model_name) as api:
        api.wait_ready()
        assert scrape(api) == {}, "a version never scored exports no accuracy series"

        tags = score_version(tracking_uri, model_name, good, GOOD)
        good_scrape = wait_for(lambda: scrape(api), "the good version's gauges", 30)
        assert good_scrape == {(model_name, good): expected(GOOD, tags)}

        # A later scoring of the same version: the next poll re-reads its tags.
        tags = score_version(tracking_uri, model_name, good, LATER)
        later = {(model_name, good): expected(LATER, tags)}
        wait_for(lambda: scrape(api), "the later scoring's values", 30, done=lambda s: s == later)

        bad = new_version(tracking_uri, model_name, scale=2.0, promote=False)
        tags = score_version(tracking_uri, model_name, bad, BAD)
        mlflow.MlflowClient(tracking_uri).set_registered_model_alias(model_name, "prod", bad)
        bad_scrape = wait_for(
            lambda: scrape(api), "the bad version's gauges", 60, done=lambda s: (name, bad) in s
        )
        # The replaced version's series are gone, not left at their last values.
        assert bad_scrape == {(model_name, bad): expected(BAD, tags)}

    labels = {"job": monitoring.API_JOB, "model_name": model_name, "model_version": bad}
    quiet = alert_case(api, good_scrape)
    quiet["alert_rule_test"] = [firing("MlstackForecastDegraded", None)]
    fires = alert_case(api, bad_scrape)
    fires["alert_rule_test"] = [firing("MlstackForecastDegraded", labels, "42.5", at="40m")]
    result = promtool_test(promtool, tmp_path, monitoring.rule_groups(), [quiet, fires])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("metric", GAUGES)
def test_each_accuracy_gauge_is_exported_by_the_monitored_api(
    served_api: RunningApi, metric: str
) -> None:
    scraped = scrape(served_api)
    assert [values[metric] for values in scraped.values()], f"{metric} is not exported"


def served(api: RunningApi) -> tuple[str, str]:
    """The version `/model` answers with, and when the answering worker loaded it."""
    info = httpx.get(f"{api.url}/model", timeout=10).json()
    return info["version"], info["loaded_at"]


def test_with_two_workers_every_scrape_shows_the_served_version_and_never_a_replaced_one(
    tracking_uri: str, model_name: str, tmp_path: Path
) -> None:
    # WORKERS > 1: a request reaches either worker; prometheus_client's shared files cannot
    # remove a series, so a replaced version must not linger in either worker's answer.
    first = new_version(tracking_uri, model_name)
    tags = score_version(tracking_uri, model_name, first, GOOD)
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = {"WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    with running_api(tmp_path / "api", tracking_uri, model_name, **env) as api:
        api.wait_ready()
        scored = {(model_name, first): expected(GOOD, tags)}

        def scrapes() -> list[Scraped]:  # enough that both workers answer some
            return [scrape(api) for _ in range(8)]

        wait_for(
            scrapes, "both workers to export the scoring", 60, done=lambda s: s == [scored] * 8
        )
        second = new_version(tracking_uri, model_name, scale=2.0)  # promoted, not yet scored
        loads: set[str] = set()  # when each worker that answered loaded the second version

        def both_serve_second() -> bool:
            answers = [served(api) for _ in range(8)]
            loads.update(at for version, at in answers if version == second)
            return len(loads) == 2 and all(version == second for version, _ in answers)

        wait_for(both_serve_second, "both workers to serve the second version", 90)
        # A worker swaps its gauges with the version it serves: whichever answers, the replaced
        # version's are gone.
        assert scrapes() == [{}] * 8
        tags = score_version(tracking_uri, model_name, second, LATER)
        rescored = {(model_name, second): expected(LATER, tags)}
        wait_for(
            scrapes, "both workers to export its scoring", 60, done=lambda s: s == [rescored] * 8
        )


def test_a_champion_whose_forecasts_fail_fires_forecast_degraded_from_real_scoring(
    tracking_uri: str, model_name: str, promtool: str, tmp_path: Path
) -> None:
    # Seasonal naive on a flat series backtests well; then the series starts to climb.
    rng = np.random.default_rng(1)
    flat = 100 + rng.normal(0, 1, 48)
    climb = 100 + 8 * np.arange(1, 13) + rng.normal(0, 1, 12)
    dates = pd.date_range("2020-01-01", periods=60, freq="MS")
    frame = pd.DataFrame({"ds": dates.strftime("%Y-%m-%d"), "y": np.r_[flat, climb]})
    frame.iloc[:48].to_csv(tmp_path / "trained.csv", index=False)
    frame.to_csv(tmp_path / "grown.csv", index=False)
    cfg = TrainConfig(
        data_uri=str(tmp_path / "trained.csv"), mlflow_tracking_uri=tracking_uri,
        model_name=model_name, families=("seasonal_naive",),
    )  # fmt: skip
    version = train(cfg).version
    summary = score(
        cfg.model_copy(update={"data_uri": str(tmp_path / "grown.csv")}), MlflowClient()
    )
    assert summary.realised_smape > 1.5 * summary.backtest_smape  # type: ignore[operator]
    with running_api(tmp_path / "api", tracking_uri, model_name) as api:
        api.wait_ready()
        scraped = wait_for(lambda: scrape(api), "the scored version's gauges", 30)
    assert scraped[(model_name, version)]["model_realised_points"] == 12
    fires = alert_case(api, scraped)
    labels = {"job": monitoring.API_JOB, "model_name": model_name, "model_version": version}
    value = f"{summary.realised_smape:.4g}"  # as `humanize` prints it
    fires["alert_rule_test"] = [firing("MlstackForecastDegraded", labels, value, at="40m")]
    result = promtool_test(promtool, tmp_path, monitoring.rule_groups(), [fires])
    assert result.returncode == 0, result.stdout + result.stderr
