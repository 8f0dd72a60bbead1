"""The global LightGBM model (mlforecast) over a panel: each cut's forecasts from a fit that saw
nothing after the cut, the final fit's path, its booster in LightGBM's text format, short series
left out without failing the rest, and the same fits on a real Dask cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.forecasting.global_features import Features
from services.forecasting.global_model import MODEL, by_series, forecast_panel


def panel(
    count: int, length: int, freq: str = "MS", m: int = 12, slope: float = 2.0, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, pd.Timestamp]]:
    """`count` positive series with a trend and a season of `m`, of lengths from `length` up,
    each ending on its own date."""
    rng = np.random.default_rng(seed)
    series, last = {}, {}
    for i in range(count):
        t = np.arange(length + i)
        season = 5 * np.sin(2 * np.pi * t / m) if m > 1 else 0
        series[f"s{i}"] = 50.0 + 3 * i + slope * t + season + rng.normal(0, 1, len(t))
        last[f"s{i}"] = pd.date_range("2015-01-01", periods=len(t) + i, freq=freq)[-1]
    return series, last


def assert_forecast_after(
    series: dict[str, np.ndarray], forecasts: dict[str, np.ndarray], cut: int, steps: int = 6
) -> None:
    """Each forecast is of the `steps` points after the cut: far closer to them than to the
    points before it (a trend of 2 a step puts those 2 * `steps` lower on average)."""
    for uid, forecast in forecasts.items():
        end = len(series[uid]) - cut
        after, before = series[uid][end : end + steps], series[uid][end - steps : end]
        assert forecast.shape == (steps,)
        assert np.abs(forecast - after).mean() < np.abs(forecast - before).mean() / 2


def features_of(model_text: str) -> list[str]:
    from lightgbm import Booster

    return list(Booster(model_str=model_text).feature_name())


def test_each_cut_forecasts_the_points_after_it_and_the_final_fit_the_path():
    series, last = panel(12, 60)
    found = forecast_panel(series, last, "MS", 12, horizon=6, cuts=[6, 12], path=24)
    assert set(found.windows) == {6, 12} and found.seconds > 0
    for cut, forecasts in found.windows.items():
        assert set(forecasts) == set(series)
        assert_forecast_after(series, forecasts, cut)
    assert set(found.paths) == set(series)
    assert all(path.shape == (24,) and np.isfinite(path).all() for path in found.paths.values())


def test_a_cut_forecast_stays_the_same_whatever_the_data_after_the_cut():
    series, last = panel(10, 48)
    cuts = [4, 8]
    base = forecast_panel(series, last, "MS", 12, horizon=4, cuts=cuts, path=4)
    # After every cut, and negative: a fit that saw them would also switch off the log.
    after_all = {uid: np.r_[y[:-4], -y[-4:]] for uid, y in series.items()}
    changed = forecast_panel(after_all, last, "MS", 12, horizon=4, cuts=cuts, path=4)
    for cut in cuts:
        assert all(np.array_equal(base.windows[cut][u], changed.windows[cut][u]) for u in series)
    assert not np.allclose(base.paths["s0"], changed.paths["s0"])
    assert base.model_text != changed.model_text  # the text is the final fit's
    # Between the two cuts: only the later cut's fit sees it.
    between = {uid: np.r_[y[:-8], y[-8:-4] * 3, y[-4:]] for uid, y in series.items()}
    moved = forecast_panel(between, last, "MS", 12, horizon=4, cuts=cuts, path=4)
    assert all(np.array_equal(base.windows[8][u], moved.windows[8][u]) for u in series)
    assert not np.allclose(base.windows[4]["s0"], moved.windows[4]["s0"])


def test_a_series_too_short_for_a_cut_or_the_features_is_left_out_there_and_the_rest_forecast():
    series, last = panel(6, 30, freq="YS", m=1)
    shortest = Features.for_panel("YS", 1).min_length
    series["fits-one-cut"] = np.arange(1.0, shortest + 6 + 1)
    series["too-short"] = np.arange(1.0, shortest)
    last |= {uid: pd.Timestamp("2020-01-01") for uid in ("fits-one-cut", "too-short")}
    found = forecast_panel(series, last, "YS", 1, horizon=6, cuts=[6, 7], path=6)
    longest = {f"s{i}" for i in range(6)}
    assert set(found.windows[6]) == longest | {"fits-one-cut"}
    assert set(found.windows[7]) == longest
    assert set(found.paths) == longest | {"fits-one-cut"}


def test_a_panel_too_short_for_any_fit_gives_empty_results_not_an_error():
    shortest = Features.for_panel("QS", 4).min_length
    series = {uid: np.arange(1.0, shortest) for uid in ("a", "b")}
    last = dict.fromkeys(series, pd.Timestamp("2020-01-01"))
    found = forecast_panel(series, last, "QS", 4, horizon=4, cuts=[4, 8], path=8)
    assert found.windows == {4: {}, 8: {}} and found.paths == {} and found.model_text == ""


def test_a_cut_of_zero_is_refused_since_the_final_fit_is_the_one_on_all_the_data():
    series, last = panel(2, 30)
    with pytest.raises(
        ValueError, match=r"every cut must be at least 1 \(horizon 6, path 6, cuts \[6, 0\]\)"
    ):
        forecast_panel(series, last, "MS", 12, horizon=6, cuts=[6, 0], path=6)


@pytest.mark.parametrize(
    ("freq", "m"), [("YS", 1), ("QS", 4), ("MS", 12), ("D", 7), ("D", 3), ("h", 24), ("W-SUN", 52)]
)
@pytest.mark.parametrize("positive", [True, False])
def test_the_minimum_length_is_the_shortest_series_with_a_complete_feature_row(freq, m, positive):
    from mlforecast import MLForecast

    features = Features.for_panel(freq, m)

    def rows(length: int) -> int:
        y = np.arange(1.0, length + 1) - (0 if positive else 5)
        ds = features.dates(pd.Timestamp("2021-01-03"), length)
        frame = pd.DataFrame({"unique_id": "a", "ds": ds, "y": y})
        return len(MLForecast(models=[], **features.pipeline_args(positive)).preprocess(frame))

    assert rows(features.min_length) == 1 and rows(features.min_length - 1) == 0


def lags(*numbers: int) -> list[str]:
    return [f"lag{k}" for k in numbers]


def rolling(*windows: int) -> list[str]:
    return [f"rolling_mean_lag1_window_size{w}" for w in windows]


def seasonal(m: int) -> list[str]:
    return [f"seasonal_rolling_mean_lag{m}_season_length{m}_window_size2"]


HOUR_AND_DAY = ["hour", "dayofweek"]


@pytest.mark.parametrize(
    ("freq", "m", "expected"),
    [
        ("YS", 1, lags(*range(1, 7)) + rolling(3, 6)),
        ("QS", 4, lags(1, 2, 3, 4, 8) + rolling(3, 4, 8) + seasonal(4) + ["quarter"]),
        ("MS", 12, lags(*range(1, 13), 24) + rolling(3, 12, 24) + seasonal(12) + ["month"]),
        ("D", 7, lags(*range(1, 8), 14) + rolling(3, 7, 14) + seasonal(7) + ["dayofweek"]),
        ("h", 24, lags(*range(1, 25), 48) + rolling(3, 24, 48) + seasonal(24) + HOUR_AND_DAY),
        ("W-SUN", 52, lags(*range(1, 25), 52, 104) + rolling(3, 52, 104) + seasonal(52) + ["week"]),
    ],
)  # fmt: skip
def test_the_model_learns_lags_rolling_means_and_the_calendar_of_the_frequency(freq, m, expected):
    shortest = Features.for_panel(freq, m).min_length
    series, last = panel(3, shortest + 10, freq=freq, m=m)
    found = forecast_panel(series, last, freq, m, horizon=2, cuts=[], path=2)
    assert features_of(found.model_text) == expected


def test_the_model_text_is_lightgbms_own_format_with_the_configured_trees():
    from lightgbm import Booster

    series, last = panel(8, 40)
    found = forecast_panel(series, last, "MS", 12, horizon=3, cuts=[3], path=3)
    assert isinstance(found.model_text, str) and found.model_text.startswith("tree\n")
    assert Booster(model_str=found.model_text).num_trees() == 300


def test_on_a_positive_panel_the_log_keeps_forecasts_above_zero_and_otherwise_not():
    falling = {f"d{i}": 100.0 + i - 4 * np.arange(24) for i in range(6)}  # down to 8 at least
    last = dict.fromkeys(falling, pd.Timestamp("2020-01-01"))
    positive = forecast_panel(falling, last, "YS", 1, horizon=12, cuts=[], path=12)
    assert min(path.min() for path in positive.paths.values()) > 0
    with_a_zero = falling | {"zero": np.r_[0.0, np.arange(1.0, 24)]}
    last["zero"] = pd.Timestamp("2020-01-01")
    differenced = forecast_panel(with_a_zero, last, "YS", 1, horizon=12, cuts=[], path=12)
    assert max(differenced.paths[uid][-1] for uid in falling) < 0  # the fall goes on


def test_a_forecast_that_overflows_is_left_out_and_the_finite_ones_kept():
    # Growth of e^2 a step: after 365 more steps the log's inverse is past float's range.
    growing = {f"g{i}": np.exp(2.0 * np.arange(30) + i) for i in range(5)}
    last = dict.fromkeys(growing, pd.Timestamp("2020-01-01"))
    with np.errstate(over="ignore"):
        found = forecast_panel(growing, last, "YS", 1, horizon=3, cuts=[3], path=365)
    assert set(found.windows[3]) == set(growing)
    assert found.paths == {}


def test_incomplete_or_non_finite_forecasts_are_left_out():
    predictions = pd.DataFrame(
        {
            "unique_id": ["ok", "ok", "nan", "nan", "inf", "inf", "short"],
            "ds": [2, 1, 1, 2, 1, 2, 1],
            MODEL: [2.0, 1.0, 1.0, np.nan, np.inf, 1.0, 1.0],
        }
    )
    found = by_series(predictions, steps=2)
    assert list(found) == ["ok"] and found["ok"].tolist() == [1.0, 2.0]


@pytest.mark.slow  # a two-worker cluster and LightGBM's network between them: a minute or so
def test_on_a_dask_cluster_each_fit_trains_on_its_workers_and_gives_the_same_results():
    from distributed import Client, LocalCluster, get_task_stream
    from lightgbm import Booster

    series, last = panel(16, 72)  # split in two: enough rows on each worker to learn the season
    fits = {"horizon": 6, "cuts": [6], "path": 12}
    local = forecast_panel(series, last, "MS", 12, **fits)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
        get_task_stream(client) as stream,
    ):
        found = forecast_panel(series, last, "MS", 12, **fits, scheduler=cluster.scheduler_address)
        workers = set(client.scheduler_info()["workers"])
    # LightGBM's Dask estimator trains in one `_train_part` task per worker holding data.
    trained_on = [t["worker"] for t in stream.data if str(t["key"]).startswith("_train_part-")]
    assert sorted(trained_on) == sorted([*workers, *workers])  # two fits, each on both workers
    # The same results as here, though not the same numbers: LightGBM's data-parallel training
    # finds its splits from each worker's share of the rows.
    assert set(found.windows[6]) == set(local.windows[6]) == set(series)
    assert_forecast_after(series, found.windows[6], 6)
    assert {uid: path.shape for uid, path in found.paths.items()} == dict.fromkeys(series, (12,))
    assert Booster(model_str=found.model_text).num_trees() == 300
