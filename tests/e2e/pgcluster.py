"""A throwaway PostgreSQL cluster that a test owns: ``initdb``, ``pg_ctl start/stop``, delete.

Database-fault tests stop and start their database server while the services run; they
must never touch the machine's shared server, so they get their own cluster on a free
loopback port, with its data directory, unix socket and log in a private temp directory::

    with throwaway_cluster() as cluster:
        url = await cluster.create_database("quiz")
        await cluster.astop()   # pg_ctl stop -m fast, off the event loop
        await cluster.astart(refuse_connections=True)   # up, but every connection gets 57P03
        await cluster.astop()
        await cluster.astart()

``initdb`` refuses to run as root: as root, every server command runs as an unprivileged
user (``postgres`` where it exists, else ``nobody``) through ``setpriv``, and the temp
directory is handed to that user. Every command names our own data directory, so nothing
here can reach another server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from devstack.ports import LOOPBACK, free_port

SUPERUSER = "postgres"
_BIN_GLOB_ROOT = Path("/usr/lib/postgresql")
_UNPRIVILEGED_USERS = ("postgres", "nobody")


class ClusterError(RuntimeError):
    """A server command failed; the message carries its output and the server log's tail."""


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live: PATH first, else the newest Debian install."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    if not _BIN_GLOB_ROOT.is_dir():
        return None
    candidates = sorted(
        (path for path in _BIN_GLOB_ROOT.glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in _UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ClusterError("running as root and no unprivileged user (postgres, nobody) to run as")


@dataclass
class PgCluster:
    """One cluster in ``root`` (data/, sock/, server.log) listening on 127.0.0.1:``port``."""

    root: Path
    port: int
    bin_dir: Path
    user: pwd.struct_passwd | None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/{database}"

    # --- commands ---
    def _run(self, *argv: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        prefix: list[str] = []
        if self.user is not None:
            prefix = [
                "setpriv",
                f"--reuid={self.user.pw_uid}",
                f"--regid={self.user.pw_gid}",
                "--clear-groups",
                "--",
            ]
        result = subprocess.run(
            [*prefix, str(self.bin_dir / argv[0]), *argv[1:]],
            cwd=self.root,  # the server user may not be allowed into our working directory
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env={**os.environ, "LC_ALL": "C", "PGDATA": str(self.data_dir)},
        )
        if result.returncode != 0:
            raise ClusterError(
                f"{argv[0]} exited {result.returncode}: {result.stderr.strip()}\n"
                f"server log:\n{self.log_tail()}"
            )
        return result

    def init(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    @property
    def standby_signal(self) -> Path:
        return self.data_dir / "standby.signal"

    def start(self, timeout_s: float = 30.0, *, refuse_connections: bool = False) -> None:
        """``pg_ctl start -w``: returns once the server is up.

        With ``refuse_connections`` it comes up as a standby with hot standby off: the server
        runs but answers every connection with SQLSTATE 57P03 ("the database system is not
        accepting connections"), as a server does while it starts up or recovers. Started
        again without it, it is an ordinary primary once more.
        """
        if refuse_connections:
            self.standby_signal.write_text("")
        else:
            self.standby_signal.unlink(missing_ok=True)
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                f"-c listen_addresses={LOOPBACK}",
                # A test database: durability against power loss is not what is tested here.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
                f"-c hot_standby={'off' if refuse_connections else 'on'}",
            ]
        )
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(int(timeout_s)),
            "-o",
            options,
            timeout_s=timeout_s + 10,
        )

    def stop(self, mode: str = "fast", timeout_s: float = 30.0) -> None:
        """``pg_ctl stop -m <mode>``: fast disconnects every client and shuts down cleanly."""
        self._run(
            "pg_ctl",
            "stop",
            "-D",
            str(self.data_dir),
            "-m",
            mode,
            "-w",
            "-t",
            str(int(timeout_s)),
            timeout_s=timeout_s + 10,
        )

    def running(self) -> bool:
        if not self.data_dir.exists():
            return False
        try:
            self._run("pg_ctl", "status", "-D", str(self.data_dir), timeout_s=10)
        except ClusterError:
            return False
        return True

    async def astart(self, *, refuse_connections: bool = False) -> None:
        await asyncio.to_thread(
            functools.partial(self.start, refuse_connections=refuse_connections)
        )

    async def astop(self, mode: str = "fast") -> None:
        """Stops without blocking the event loop, so requests in flight keep being driven."""
        await asyncio.to_thread(self.stop, mode)

    # --- databases ---
    async def create_database(self, name: str) -> str:
        """``CREATE DATABASE name``; returns its URL."""
        connection = await asyncpg.connect(self.url(), timeout=10)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)

    # --- diagnostics and cleanup ---
    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def destroy(self) -> None:
        """Stop whatever still runs (immediate), then delete the directory."""
        if self.running():
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                self.stop(mode="immediate", timeout_s=20)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster(bin_dir: Path | None = None) -> Iterator[PgCluster]:
    """A freshly initialised, started cluster; stopped and deleted on exit."""
    binaries = bin_dir or postgres_bin_dir()
    if binaries is None:
        raise ClusterError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="e2e-pgcluster-"))
    cluster = PgCluster(root=root, port=free_port(), bin_dir=binaries, user=_unprivileged_user())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
