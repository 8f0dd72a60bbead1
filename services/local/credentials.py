"""The local stack's MLflow credentials: made on the first `mlstack up`, kept in the state
directory readable by its owner only, and reused by every start after it (the tracking database
holds the users they open)."""

from __future__ import annotations

import json
import secrets
import stat
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from services.files import write_atomically

FILE = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    admin_password: str
    secret_key: str  # signs MLflow's CSRF tokens
    writer_password: str  # the trainer's and the scorer's
    reader_password: str  # the API's

    @classmethod
    def generated(cls) -> Credentials:
        return cls(*(secrets.token_urlsafe(24) for _ in fields(cls)))


def path(state_dir: Path) -> Path:
    return state_dir / FILE


def load_or_create(state_dir: Path) -> Credentials:
    """The stack's credentials, made (mode 0600) if the state directory has none yet. A file
    others may read is refused rather than used: its passwords are no longer secret."""
    file = path(state_dir)
    if not file.exists():
        write_atomically(file, json.dumps(asdict(Credentials.generated()), indent=2).encode())
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"{file} is readable by others (mode {mode:o}): `chmod 600 {file}`; if anyone may "
            "have read it, delete it instead, and the next `mlstack up` makes new passwords"
        )
    return Credentials(**json.loads(file.read_text()))
