"""A PostgreSQL server of a test's own (``initdb`` + ``pg_ctl``), which it may restart.

The shared test server (``TEST_DATABASE_URL``) serves every suite at once and must never be
restarted; a test about surviving a restart of the database gets this one: a fresh cluster
in a temp dir on a free loopback port, trust auth, stopped and removed afterwards. As root
(PostgreSQL refuses to run as root) its commands run as the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.ports import LOOPBACK, free_port
from testkit.postgres import unavailable

_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _binary(name: str) -> str:
    for directory in _BIN_DIRS:
        if (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        unavailable(f"PostgreSQL's {name} is not installed (Debian: postgresql)")
    return found


class PrivatePostgres:
    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.port = free_port()
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            self._as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
        self.url = f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def _run(self, *argv: str, check: bool = True) -> None:
        subprocess.run([*self._as_owner, *argv], check=check, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses={LOOPBACK} -k {self.data}"
        # Its own log file: the server must not hold our pipes open (we would wait for them).
        log = str(self.data / "server.log")
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, *, check: bool = True) -> None:
        """A fast shutdown: open sessions are ended, committed work is kept."""
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=check)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    root = Path(tempfile.mkdtemp(prefix="private-pg-"))
    server = PrivatePostgres(root)
    try:
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop(check=False)  # a test may have stopped it already
    finally:
        shutil.rmtree(root, ignore_errors=True)
