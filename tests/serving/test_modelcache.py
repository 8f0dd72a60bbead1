"""The local model cache: a trained version saved and loaded back whole, damaged entries refused,
and an interrupted write that leaves the previous entry as it was."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from services.registry import Version
from services.serving.loader import MlflowLoader
from services.serving.modelcache import CacheError, ModelCache
from services.serving.models import ForeignPyfunc, Model, OwnForecasters

from .conftest import Panel, Promoted


@pytest.fixture(scope="module")
def trained(promoted: Promoted) -> tuple[Version, Model]:
    """The shared version, loaded from the registry as the API loads it."""
    loader = MlflowLoader(promoted.uri)
    ref = loader.resolve(promoted.name, "prod")
    assert ref is not None
    return ref, loader.load(ref)


def test_a_saved_version_loads_back_with_its_facts_and_forecasts_the_same(
    tmp_path: Path, trained: tuple[Version, Model]
) -> None:
    ref, model = trained
    cache = ModelCache(tmp_path)
    assert cache.save(ref, model)
    found = cache.load(ref.name, ref.alias)
    assert found is not None
    cached_ref, cached = found
    assert cached_ref == ref  # name, version, run id, alias, metrics, tags, trained at
    assert isinstance(cached, OwnForecasters)
    for horizon, level in [(1, None), (12, 0.8)]:
        assert (
            cached.forecast(None, horizon, level).body == model.forecast(None, horizon, level).body
        )
    # MLflow's own scoring (CSV, params) works from the cached files too.
    frame = pd.DataFrame({"n_periods": [3]})
    assert cached.pyfunc.predict(frame).equals(model.pyfunc.predict(frame))  # type: ignore[attr-defined]


def test_a_model_of_many_series_is_kept_whole(tmp_path: Path, panel: Panel) -> None:
    loader = MlflowLoader(panel.uri)
    ref = loader.resolve(panel.name, "prod")
    assert ref is not None
    model = loader.load(ref)
    cache = ModelCache(tmp_path)
    assert cache.save(ref, model)
    found = cache.load(panel.name, "prod")
    assert found is not None
    cached = found[1]
    assert isinstance(cached, OwnForecasters) and list(cached.ids) == panel.ids
    for series in panel.ids:
        assert cached.forecast(series, 6, 0.9).body == model.forecast(series, 6, 0.9).body


def test_a_newer_version_replaces_the_entry_whole_and_leaves_no_temporary_file(
    tmp_path: Path, trained: tuple[Version, Model]
) -> None:
    ref, model = trained
    cache = ModelCache(tmp_path)
    cache.save(ref, model)
    cache.save(dataclasses.replace(ref, version="99"), model)
    assert [p.name for p in tmp_path.iterdir()] == [cache.path(ref.name, ref.alias).name]
    found = cache.load(ref.name, ref.alias)
    assert found is not None and found[0].version == "99"


def test_an_interrupted_write_leaves_the_previous_entry_as_it_was(
    tmp_path: Path, trained: tuple[Version, Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, model = trained
    cache = ModelCache(tmp_path)
    cache.save(ref, model)
    before = cache.path(ref.name, ref.alias).read_bytes()

    def crash(fd: int) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="no space"):
        cache.save(dataclasses.replace(ref, version="99"), model)
    monkeypatch.undo()
    assert cache.path(ref.name, ref.alias).read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file is gone
    found = cache.load(ref.name, ref.alias)
    assert found is not None and found[0].version == ref.version


def _damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "a changed byte":
        entry = json.loads(raw)
        name = next(iter(entry["files"]))
        text = entry["files"][name]
        entry["files"][name] = ("B" if text[0] != "B" else "C") + text[1:]
        path.write_text(json.dumps(entry))
    elif how == "another format":
        path.write_text(json.dumps({**json.loads(raw), "format": "something/2"}))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"\x00\xff not json")


@pytest.mark.parametrize(
    "how", ["truncated", "a changed byte", "another format", "empty", "garbage"]
)
def test_a_damaged_entry_is_refused_with_a_cache_error(
    tmp_path: Path, trained: tuple[Version, Model], how: str
) -> None:
    ref, model = trained
    cache = ModelCache(tmp_path)
    cache.save(ref, model)
    _damage(cache.path(ref.name, ref.alias), how)
    with pytest.raises(CacheError, match=cache.path(ref.name, ref.alias).name):
        cache.load(ref.name, ref.alias)


def test_no_entry_is_none_and_an_entry_is_only_for_its_own_name_and_alias(
    tmp_path: Path, trained: tuple[Version, Model]
) -> None:
    ref, model = trained
    cache = ModelCache(tmp_path)
    assert cache.load(ref.name, ref.alias) is None
    cache.save(ref, model)
    assert cache.load(ref.name, "staging") is None
    assert cache.load("other/model name", ref.alias) is None


def test_a_model_that_is_not_the_trainers_json_model_is_not_kept(tmp_path: Path) -> None:
    class Other:
        def predict(self, data: object, params: object = None) -> object:
            return data

    cache = ModelCache(tmp_path)
    assert cache.save(Version("m", "1", "r", alias="prod"), ForeignPyfunc(Other())) is False
    assert list(tmp_path.iterdir()) == []
