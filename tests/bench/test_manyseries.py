"""The many-series bench's model and table (the servers it measures are make bench's)."""

from pathlib import Path

from bench import manyseries
from services.forecasting import forecasters


def test_the_model_repeats_fitted_m3_series_under_every_id_and_loads_as_the_trainers(
    tmp_path: Path,
) -> None:
    lines = manyseries.fitted_lines(30, bases=3)
    assert sorted(lines) == [f"S{i:05d}" for i in range(30)]
    path = tmp_path / "forecasters.jsonl"
    forecasters.write(path, lines)
    model = forecasters.read(path)
    assert len(model) == 30
    assert model["S00000"].columns(2, 0.9) == model["S00003"].columns(2, 0.9)  # one base, twice
    assert model["S00000"].columns(2, 0.9) != model["S00001"].columns(2, 0.9)


def test_the_table_shows_load_memory_and_each_predict_run() -> None:
    run = {"rps": 1796.0, "p50_ms": 0.335, "p99_ms": 2.1, "errors": 0}
    result = {
        "series": 10_000,
        "horizon": 30,
        "artifact_mb": 22.8,
        "load_folder_s": 0.7,
        "load_folder_rss_added_mb": 19.1,
        "api_load_s": 2.47,
        "api_rss_mb": {"one_series": 166.8, "many": 221.5, "many_after_runs": 225.0},
        "predict": {"1 of 10,000 series": {"c1": run, "c32": run}},
    }
    text = manyseries.many_series_table(result)
    assert "A model of 10,000 series (22.8 MB artifact)" in text
    assert "221.5" in text and "2.47" in text
    assert sum("1 of 10,000 series" in line for line in text.splitlines()) == 2
