"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries (`make test` installs
them), run as an unprivileged user in a temporary data directory, on loopback, with a password
(scram-sha-256) as RDS asks for one; started and stopped by the tests."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.local.process import free_port

USER = "mlstack"  # the superuser initdb makes, as RDS's master user
HINT = "`make test` installs Debian's postgresql package (initdb, postgres)"
# Debian installs each major version's programs beside each other, off PATH.
DEBIAN = Path("/usr/lib/postgresql")


def binaries() -> Path | None:
    """The folder of the newest installed `initdb` and `postgres`, or None."""
    found = sorted(DEBIAN.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _unprivileged() -> pwd.struct_passwd | None:
    """Who runs the server: `nobody` when the tests run as root (PostgreSQL refuses root)."""
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else None


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str
    root: Path  # data directory, socket and log

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.uri(database), autocommit=True)

    def create_database(self, name: str) -> str:
        """A new empty database; its URI."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """One statement outside any transaction (as CREATE DATABASE needs); its rows."""
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    @property
    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _run_as(user: pwd.struct_passwd | None, argv: list[str]) -> None:
    ids = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **ids)
    assert result.returncode == 0, f"{argv[0]}: {result.stdout}{result.stderr}"


@contextmanager
def running(bin_dir: Path) -> Iterator[Postgres]:
    """initdb in a fresh directory, then `postgres` on a free loopback port until the block ends;
    the directory is removed afterwards."""
    user = _unprivileged()
    root = Path(tempfile.mkdtemp(prefix="mlstack-postgres-"))
    password = secrets.token_hex(16)
    (root / "password").write_text(password)
    if user:
        shutil.chown(root, user.pw_uid, user.pw_gid)
        shutil.chown(root / "password", user.pw_uid, user.pw_gid)
    data = root / "data"
    _run_as(
        user,
        [
            str(bin_dir / "initdb"),
            *("-D", str(data), "-U", USER, "--pwfile", str(root / "password")),
            *("--auth-host", "scram-sha-256", "--auth-local", "peer", "-E", "UTF8"),
        ],
    )
    port = free_port()
    ids = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    with open(root / "postgres.log", "wb") as log:
        server = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                *("-D", str(data), "-p", str(port), "-k", str(root)),
                *("-c", "listen_addresses=127.0.0.1"),
                # A throwaway server: durability is not under test, speed is welcome.
                *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **ids,
        )
    postgres = Postgres(port, password, root)
    try:
        _wait_ready(postgres, server)
        yield postgres
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown: ends the sessions, then stops
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(postgres: Postgres, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise AssertionError(f"postgres exited with {server.returncode}:\n{postgres.log}")
        try:
            postgres.connect().close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready after {timeout}s:\n{postgres.log}") from None
            time.sleep(0.1)
