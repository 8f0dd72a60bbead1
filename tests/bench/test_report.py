"""Target maths and tables of the benchmark report, on made-up measurements."""

from __future__ import annotations

from typing import Any

from bench import quality, training
from bench.hotswap import Log
from bench.report import Target, cache_off_target, ratio, serving_targets, table


def _server(rps32: float, p99: float, p50: float, rss: float, cold: float) -> dict[str, Any]:
    return {
        "c1": {"p50_ms": p50},
        "c32": {"rps": rps32, "p99_ms": p99},
        "rss_mb": rss,
        "cold_start_s": cold,
    }


def test_serving_targets_pass_when_the_api_beats_every_bound() -> None:
    rows = {
        "api": _server(rps32=3000, p99=10, p50=0.5, rss=200, cold=5),
        "mlflow": _server(rps32=140, p99=345, p50=4.8, rss=514, cold=14),
        "floor": _server(rps32=6000, p99=5, p50=0.2, rss=49, cold=1),
    }
    targets = {t.name: t for t in serving_targets(rows)}
    assert round(targets["c32 throughput: api / mlflow"].measured, 2) == 21.43
    assert targets["c32 p99: mlflow / api"].measured == 34.5
    assert targets["c1 p50: mlflow / api"].measured == 9.6
    assert targets["c32 throughput: api / floor"].measured == 0.5
    assert all(t.met for t in targets.values())


def test_serving_targets_fail_on_the_wrong_side_of_a_bound() -> None:
    rows = {
        "api": _server(rps32=1000, p99=100, p50=2, rss=300, cold=10),
        "mlflow": _server(rps32=100, p99=345, p50=4.8, rss=514, cold=14),
        "floor": _server(rps32=6000, p99=5, p50=0.2, rss=49, cold=1),
    }
    assert [t.met for t in serving_targets(rows)] == [False] * 6


def test_cache_off_target_is_the_time_above_the_models_own_predict() -> None:
    assert cache_off_target(8.2, 7.8).met
    assert not cache_off_target(9.0, 7.8).met


def test_a_zero_denominator_gives_infinity_not_an_exception() -> None:
    assert ratio(1, 0) == float("inf")


def test_targets_print_their_bound_and_verdict() -> None:
    assert Target("x", 0.25, 0.5, False).row() == ["x", 0.25, "≤ 0.5", True]
    assert Target("y", 3, 5, True).to_dict()["met"] is False


def test_table_right_aligns_number_columns_and_shows_missing_values() -> None:
    text = table(["name", "req/s"], [["api", 1234.5], ["mlflow", None]], "title")
    lines = text.splitlines()
    assert lines[0] == "title"
    assert lines[3].endswith("1,234") and lines[4].endswith("-")


def test_linear_training_time_grows_by_one_per_unit_of_length() -> None:
    rows = [{"n": 100, "seconds": 1.0}, {"n": 1000, "seconds": 10.0}, {"n": 10000, "seconds": 20.0}]
    assert training.growth(rows) == [None, 1.0, 0.2]


def test_quality_targets_from_accuracy_rows() -> None:
    rows = [
        {
            "ours_smape": 8.0,
            "pmdarima_smape": 10.0,
            "naive_smape": 9.0,
            "ours_seconds": 1.0,
            "pmdarima_seconds": 4.0,
        },
        {
            "ours_smape": 12.0,
            "pmdarima_smape": 10.0,
            "naive_smape": 11.0,
            "ours_seconds": 1.0,
            "pmdarima_seconds": 4.0,
        },
    ]
    smape, seconds = quality.targets(rows)  # rows without a set are the development set's
    assert (smape.measured, smape.bound, smape.met) == (1.0, quality.BEFORE["dev"], False)
    assert (seconds.measured, seconds.met) == (0.25, True)


def test_hot_swap_log_reads_the_version_and_fails_a_200_without_one() -> None:
    log = Log()
    log.observe(1.0, 200, b'{"model":{"name":"m","version":"2","run_id":"r"},"forecast":[]}')
    log.observe(2.0, 200, b"not json")
    log.observe(3.0, 503, b"")
    assert log.seen == [(1.0, 200, "2"), (2.0, -1, None), (3.0, 503, None)]
    assert log.first("2", after=0.5) == 1.0 and log.first("2", after=1.5) is None
