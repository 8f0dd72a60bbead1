"""The many-series artifact: read lazily, it forecasts every series exactly as the forecasters
built at once did; a line that is not a series' forecaster, or an id twice, is refused with an
error naming it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.forecasting import forecasters
from services.forecasting.forecaster import Forecaster
from services.forecasting.forecasters import ID, CorruptArtifact, Forecasters
from tests.forecasting.m3 import artifact_lines


@pytest.fixture(scope="module")
def lines() -> dict[str, str]:
    return artifact_lines(step=1000)


def artifact(folder: Path, texts: list[str]) -> Path:
    path = folder / "forecasters.jsonl"
    path.write_text("".join(f"{text}\n" for text in texts))
    return path


def eager(lines: dict[str, str]) -> dict[str, Forecaster]:
    """Every forecaster built at once, as the artifact was read before."""
    return {uid: Forecaster.from_dict(json.loads(text)) for uid, text in lines.items()}


def test_a_lazily_read_artifact_forecasts_every_series_as_the_eager_one(
    tmp_path: Path, lines: dict[str, str]
) -> None:
    path = tmp_path / "forecasters.jsonl"
    forecasters.write(path, lines)
    lazy, built = forecasters.read(path), eager(lines)
    assert "NaN" in "".join(lines.values())  # the standard library's JSON, not strict JSON
    for uid in built:
        for horizon, level in [(1, 0.95), (18, 0.8)]:
            assert lazy[uid].columns(horizon, level) == built[uid].columns(horizon, level)
    frame = pd.DataFrame({ID: sorted(built, reverse=True), "n_periods": 3})
    pd.testing.assert_frame_equal(
        Forecasters(lazy).predict(frame), Forecasters(built).predict(frame)
    )


def test_it_is_a_mapping_in_file_order_with_membership_that_builds_nothing(
    tmp_path: Path, lines: dict[str, str]
) -> None:
    broken = json.dumps(
        {ID: "zz", "spec": {"family": "nope"}, "state": {}, "frequency": {}, "last_ds": ""}
    )
    path = artifact(tmp_path, [*(lines[k] for k in sorted(lines)), broken])
    lazy = forecasters.read(path)
    assert len(lazy) == len(lines) + 1 and list(lazy) == [*sorted(lines), "zz"]
    known = lazy.keys()  # what the API checks asked series against
    assert "zz" in lazy and "zz" in known and "other" not in lazy and "other" not in known
    assert lazy.get("other") is None
    with pytest.raises(KeyError):
        lazy["other"]
    # The broken line is JSON with every field: it fails only when its forecaster is built.
    with pytest.raises(CorruptArtifact, match=r"series 'zz' does not load: ValueError.*'nope'"):
        lazy["zz"]
    first = min(lines)
    assert lazy[first] is lazy[first]  # built once, then kept


def test_a_series_asked_for_by_several_threads_at_once_forecasts_the_same(
    tmp_path: Path, lines: dict[str, str]
) -> None:
    path = tmp_path / "forecasters.jsonl"
    forecasters.write(path, lines)
    lazy, uid = forecasters.read(path), min(lines)
    start, answers = threading.Barrier(8), []

    def ask() -> None:
        start.wait()
        answers.append(lazy[uid].columns(6, 0.9))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and all(a == answers[0] for a in answers)
    np.testing.assert_array_equal(answers[0]["yhat"], eager(lines)[uid].columns(6, 0.9)["yhat"])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", r"line 2 is not JSON"),
        ('["a", "list"]', r"line 2 names no unique_id"),
        ('{"spec": {}, "state": {}}', r"line 2 names no unique_id"),
        ('{"unique_id": "b", "spec": {}}', r"line 2: series 'b' has no state, frequency, last_ds"),
        ("\x00", r"line 2 is not JSON"),
    ],
)
def test_a_malformed_line_is_refused_when_read_naming_it(
    tmp_path: Path, lines: dict[str, str], bad: str, message: str
) -> None:
    path = artifact(tmp_path, [lines[min(lines)], bad])
    with pytest.raises(CorruptArtifact, match=message):
        forecasters.read(path)


def test_an_id_on_two_lines_is_refused_naming_it_and_the_second_line(
    tmp_path: Path, lines: dict[str, str]
) -> None:
    first, second = sorted(lines)[:2]
    path = artifact(tmp_path, [lines[first], lines[second], lines[first]])
    with pytest.raises(CorruptArtifact, match=rf"line 3: series '{first}' again"):
        forecasters.read(path)


def test_blank_lines_are_skipped(tmp_path: Path, lines: dict[str, str]) -> None:
    path = artifact(tmp_path, ["", lines[min(lines)], "  "])
    assert list(forecasters.read(path)) == [min(lines)]
