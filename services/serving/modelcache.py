"""The last model the API loaded and warmed, kept on local disk (`MODEL_CACHE_DIR`), so that an
API restarted while the registry is unreachable still has a model to serve.

One file per name@alias holds the version's facts (name, version, run id, alias, metrics, tags)
and its model files (the MLmodel and the forecaster's JSON artifact, a few KB), with a SHA-256
over both. It is written to a temporary file in the same folder, fsynced, renamed over the old
one and the folder fsynced, so a reader finds the old entry or the new one, never half of one.
Only the trainer's JSON models are kept: any other pyfunc may be large and needs MLflow anyway.
The follower reads an entry only when the registry cannot be reached (`follower.py`).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import urllib.parse
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from services.files import write_atomically
from services.registry import Version
from services.serving.loader import load_folder, owning
from services.serving.models import Model

FORMAT = "mlstack-model-cache/1"


class CacheError(RuntimeError):
    """A cache entry that cannot be used: unreadable, of another format, or corrupt."""


class ModelCache:
    """Entries under `folder`, one per model name and alias."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str, alias: str) -> Path:
        quoted = [urllib.parse.quote(part, safe="") for part in (name, alias)]
        return self.folder / f"{quoted[0]}@{quoted[1]}.json"

    def save(self, ref: Version, model: Model) -> bool:
        """Keep `model` as the entry of its name and alias; False when it is not in the
        project's own format."""
        root = model.own_files
        if root is None:
            return False
        files = {
            path.relative_to(root).as_posix(): base64.b64encode(path.read_bytes()).decode()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }
        content = {"ref": asdict(ref), "files": files}
        entry = {"format": FORMAT, "sha256": _digest(content), **content}
        write_atomically(self.path(ref.name, ref.alias), orjson.dumps(entry))
        return True

    def load(self, name: str, alias: str) -> tuple[Version, Model] | None:
        """The kept version of name@alias and its model, None when there is no entry; raises
        `CacheError` for an entry that cannot be used."""
        path = self.path(name, alias)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(f"{path}: {exc}") from exc
        try:
            ref, files = _parse(raw, name, alias)
        except Exception as exc:  # any malformed content: the entry is unusable, never fatal
            raise CacheError(f"{path}: {type(exc).__name__}: {exc}") from exc
        folder = Path(tempfile.mkdtemp(prefix=f"mlstack-cached-{ref.version}-"))

        def unpack_and_load() -> Model:
            for relative, data in files.items():
                target = (folder / relative).resolve()
                if not target.is_relative_to(folder.resolve()):
                    raise CacheError(f"{path}: a file outside the model folder: {relative}")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            return load_folder(folder)

        try:
            return ref, owning(folder, unpack_and_load)
        except CacheError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise CacheError(f"{path}: the model does not load: {reason}") from exc


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _parse(raw: bytes, name: str, alias: str) -> tuple[Version, dict[str, bytes]]:
    entry = orjson.loads(raw)
    if entry.get("format") != FORMAT:
        raise ValueError(f"format {entry.get('format')!r}, expected {FORMAT!r}")
    content = {"ref": entry["ref"], "files": entry["files"]}
    if entry.get("sha256") != _digest(content):
        raise ValueError("checksum mismatch (the file is damaged)")
    ref = Version(**content["ref"])
    if (ref.name, ref.alias) != (name, alias):
        raise ValueError(f"holds {ref.name}@{ref.alias}, not {name}@{alias}")
    files = {str(k): base64.b64decode(v, validate=True) for k, v in content["files"].items()}
    return ref, files
