"""Every series of a model in one artifact, and the model that answers any of them.

The artifact is JSON lines, one series a line, sorted by id: `{"unique_id": ..., "spec": ...,
"state": ..., "frequency": ..., "last_ds": ...}` (a `Forecaster` and its id; a few KB), for a
model of one series as of many. Versions registered before held a model of one series as a
single JSON file (format `json/1`), which may name its id: still read, never written.
`load(folder)` reads either from a downloaded model folder into a mapping of id to
`Forecaster`, in one read and without MLflow: what the trainer's promotion and the API use.

Building a `Forecaster` costs about three times what parsing its line does, and a request asks for
a few series out of thousands, so a model of many series is checked line by line when it loads
and each series' forecaster is built the first time it is asked for (`Lines`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from services.forecasting.forecaster import (
    FORMAT_KEY,
    OUTPUT_COLUMNS,
    Forecaster,
    InvalidInput,
    _rows,
)

ARTIFACT = "forecasters"  # the logged model's artifact: `forecasters.jsonl`
FORMAT = "jsonl/1"  # its value of the MLmodel metadata entry `forecaster.FORMAT_KEY`
# The format of versions of one series registered before: read, never written.
SINGLE_ARTIFACT, SINGLE_FORMAT = "forecaster", "json/1"
SINGLE_ID = "y"  # the id of its series when the file names none
ID = "unique_id"
FIELDS = ("spec", "state", "frequency", "last_ds")  # what a line holds beside its id


class CorruptArtifact(ValueError):
    """A line of the artifact that is not one series' forecaster, or an id on two lines."""


class ForeignModel(ValueError):
    """A model folder this project did not log (any other pyfunc)."""


def line(unique_id: str, forecaster: Forecaster) -> str:
    """One series' line of the artifact."""
    return json.dumps({ID: unique_id, **forecaster.to_dict()}, separators=(",", ":"))


def write(path: Path, lines: Mapping[str, str]) -> None:
    """The artifact from each series' `line`, by id, sorted by id (as `read` returns them)."""
    with path.open("w") as out:
        for unique_id in sorted(lines):
            out.write(lines[unique_id] + "\n")


def read(path: Path) -> Mapping[str, Forecaster]:
    """The artifact at `path` as id -> forecaster, in file order. Every line is checked here
    (JSON, an object with an id and a forecaster's fields, no id twice); each forecaster is
    built on first use, and a line that then fails to build one is an error naming its series."""
    lines: dict[str, bytes | Forecaster] = {}
    for number, text in enumerate(path.read_bytes().splitlines(), start=1):
        if text.strip():
            unique_id = _id_of(text, f"{path}: line {number}")
            if unique_id in lines:
                raise CorruptArtifact(f"{path}: line {number}: series {unique_id!r} again")
            lines[unique_id] = text
    return Lines(lines, path)


def _id_of(text: bytes, where: str) -> str:
    # The standard library's parser, not orjson: `json.dumps` writes NaN (CES keeps NaN
    # parameters), which orjson refuses.
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CorruptArtifact(f"{where} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get(ID) is None:
        raise CorruptArtifact(f"{where} names no {ID}")
    missing = [key for key in FIELDS if key not in data]
    if missing:
        raise CorruptArtifact(f"{where}: series {data[ID]!r} has no {', '.join(missing)}")
    return str(data[ID])


class Lines(Mapping[str, Forecaster]):
    """Series id -> forecaster over the artifact's checked lines, each built on first use and
    kept in place of its line. Worker threads may ask at once: two that build the same series
    both build it and either result (they are alike) is kept: a dict item assignment is atomic."""

    def __init__(self, lines: dict[str, bytes | Forecaster], path: Path) -> None:
        self._items = lines
        self._path = path

    def __getitem__(self, unique_id: str) -> Forecaster:
        found = self._items[unique_id]
        if isinstance(found, Forecaster):
            return found
        try:
            forecaster = Forecaster.from_dict(json.loads(found))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise CorruptArtifact(
                f"{self._path}: series {unique_id!r} does not load: {reason}"
            ) from exc
        self._items[unique_id] = forecaster
        return forecaster

    def __contains__(self, unique_id: object) -> bool:
        return unique_id in self._items  # without building it (Mapping's would)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def read_single(path: Path) -> Mapping[str, Forecaster]:
    """A one-series model's JSON file as {its id: forecaster} (`y` when it names none)."""
    data = json.loads(path.read_text())
    return {str(data.get(ID, SINGLE_ID)): Forecaster.from_dict(data)}


READERS = {FORMAT: (read, ARTIFACT), SINGLE_FORMAT: (read_single, SINGLE_ARTIFACT)}


def artifact_file(folder: Path) -> tuple[str, str]:
    """The format of a model folder's forecasters and where in the folder they are, read from
    its `MLmodel` alone (the one file needed beside them); `ForeignModel` for a model this
    project did not log."""
    import yaml  # type: ignore[import-untyped]

    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    fmt = (mlmodel.get("metadata") or {}).get(FORMAT_KEY)
    if fmt not in READERS:
        raise ForeignModel(f"{folder} holds no forecaster of this project (format {fmt!r})")
    artifacts = mlmodel["flavors"]["python_function"]["artifacts"]
    return fmt, str(artifacts[READERS[fmt][1]]["path"])


def load(folder: Path) -> Mapping[str, Forecaster]:
    """The forecasters of a downloaded model folder (either format), by series id;
    `ForeignModel` for a model this project did not log."""
    fmt, path = artifact_file(folder)
    return READERS[fmt][0](folder / path)


@dataclass(frozen=True)
class Forecasters:
    """Rows of `unique_id` (optional for a model of one series), `n_periods` and optional
    `level` in; `unique_id, ds, yhat, yhat_lower, yhat_upper` out, in input order. Without a
    `unique_id` column a model of one series answers exactly as `Forecaster.predict`."""

    by_id: Mapping[str, Forecaster]

    def predict(self, model_input: Any) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if ID not in frame.columns:
            if len(self.by_id) != 1:
                raise InvalidInput(
                    f"this model has {len(self.by_id):,} series: the input needs a column "
                    f"'{ID}' naming each row's series"
                )
            (only,) = self.by_id.values()
            return only.predict(frame)
        frames = []
        for uid, (n, level) in zip(frame[ID], _rows(frame), strict=True):
            out = self.get(uid).forecast(n, level)
            out.insert(0, ID, uid)
            frames.append(out)
        if not frames:
            return pd.DataFrame(columns=[ID, *OUTPUT_COLUMNS])
        return pd.concat(frames, ignore_index=True)

    def get(self, unique_id: Any) -> Forecaster:
        found = None if pd.isna(unique_id) else self.by_id.get(str(unique_id))
        if found is None:
            raise InvalidInput(
                f"unknown {ID} {unique_id!r}: the model has {len(self.by_id):,} series"
            )
        return found
