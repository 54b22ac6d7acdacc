"""A real PostgreSQL server for the tests that claim PostgreSQL support.

Debian's ``postgresql`` package keeps ``initdb`` and ``pg_ctl`` in a versioned folder off PATH, and
both refuse to run as root, so as root they run as the ``postgres`` user. Outside CI a machine
without the server skips those tests; in CI (``CI`` set) that is a failure instead. Under
pytest-xdist each worker that needs one starts its own, in its own folder on its own port.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throw-away cluster on 127.0.0.1; ``new_database()`` gives each test its own database."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
        self.datadir = Path(tempfile.mkdtemp(prefix="rnn-study-pg-"))
        self.port = _free_port()
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.datadir, "postgres", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as_user, str(self.bindir / tool), *args],
            check=True,
            capture_output=True,
            cwd="/",
        )

    def start(self, attempts: int = 3) -> None:
        """Creates the cluster and starts it, on another free port if its port was taken.

        Each xdist worker starts its own server; the port ``_free_port`` found is free again until
        the server binds it, so another worker's server may take it first.
        """
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres")
        for attempt in range(attempts):
            try:
                self._run(
                    "pg_ctl", "-D", str(self.datadir), "-l", str(self.datadir / "server.log"),
                    "-w", "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1",
                    "start",
                )  # fmt: skip
                return
            except subprocess.CalledProcessError:
                if attempt == attempts - 1:
                    raise
                self.port = _free_port()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop")
        shutil.rmtree(self.datadir, ignore_errors=True)

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run should have installed it")
        pytest.skip("PostgreSQL server binaries not installed")
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the test server."""
    return postgres_server.new_database()
