"""The system under test: two throwaway PostgreSQL databases and the local stack on them.

One emulator, ONE quiz instance and ONE audio instance (so "one service instance" in the
parallel-conversion and memory figures is literally one process), behind the project's nginx
gateway with one worker. The databases are created on the server of ``TEST_DATABASE_URL``
and dropped afterwards. The services log JSON to files, which the measures read for the
services' own timings (the conversion and ingestion lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.sampling import PidSource, idle_rss, own_process, process_tree, processes_named
from devstack.gateway import NO_RATE_LIMITS
from devstack.ports import free_port
from devstack.processes import ManagedProcess, python_module
from devstack.stack import LocalStack, StackConfig
from testkit.postgres import admin_database_url, temporary_database

MP3_BITRATE_KBPS = 128  # the service's default: bare lame encodes at the same settings
MP3_QUALITY = 3
MAX_UPLOAD_BYTES = 1024**3  # room for the 60-minute WAV (~635 MB)


def _admin_query(sql: str, *args: Any) -> list[asyncpg.Record]:
    async def query() -> list[asyncpg.Record]:
        url = make_url(admin_database_url()).set(drivername="postgresql")
        connection = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=10)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(query())


def postgres_version() -> str:
    return str(_admin_query("SHOW server_version")[0][0])


@contextlib.contextmanager
def _database(prefix: str) -> Iterator[str]:
    """``testkit.postgres.temporary_database`` driven from synchronous code."""
    with asyncio.Runner() as runner:
        manager = temporary_database(prefix)
        url = runner.run(manager.__aenter__())
        try:
            yield url
        finally:
            runner.run(manager.__aexit__(None, None, None))


class System:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.gateway_url = stack.gateway_url
        self.emulator_url = stack.emulator_url
        self.workdir = stack.config.workdir
        # The audio service's RSS right after start, before its first request.
        self.cold_rss = idle_rss(self.pid("audio-0"))

    def pid(self, name: str) -> int:
        return self.stack.processes[name].pid

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def log_mark(self, name: str) -> tuple[str, int]:
        """Where ``name``'s log ends now: ``log_since`` reads what comes after."""
        path = self._log(name)
        return name, path.stat().st_size if path.exists() else 0

    def log_since(self, mark: tuple[str, int], key: str, count: int = 1) -> list[dict[str, Any]]:
        """The JSON log entries holding ``key`` written after ``mark``; waits (up to 2 s) for
        ``count`` of them, since a line may be flushed just after its answer went out."""
        deadline = time.monotonic() + 2.0
        while True:
            with self._log(mark[0]).open("rb") as log:
                log.seek(mark[1])
                lines = log.read().splitlines()
            entries = []
            for line in lines:
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and key in entry:
                        entries.append(entry)
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.02)

    def cpu_groups(self, **extra: PidSource) -> dict[str, PidSource]:
        """Process groups for a CpuMeter: the services, the gateway, PostgreSQL, us."""
        gateway = self.stack.gateway
        return {
            "audio": lambda: process_tree(self.pid("audio-0")),
            "quiz": lambda: process_tree(self.pid("quiz-0")),
            "nginx": lambda: process_tree(gateway.pid) if gateway and gateway.pid else [],
            "postgres": lambda: processes_named("postgres"),
            "bench": own_process,
            **extra,
        }

    def audio_transactions(self) -> int:
        """Transactions committed or rolled back so far in the audio service's database
        (pg_stat_database; backends flush it at most once a second, hence the settle time)."""
        time.sleep(1.2)
        database = make_url(self.stack.config.env["AUDIO_DATABASE_URL"]).database
        rows = _admin_query(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            database,
        )
        return int(rows[0][0])

    def start_worker(self, name: str, **env: str) -> ManagedProcess:
        """A conversion worker (``python -m audio_service worker``) on the audio database,
        with the audio service's settings, logging to ``logs/<name>.log``."""
        worker = ManagedProcess(
            name,
            python_module("audio_service", "worker"),
            env={**self.stack.config.env, **env},
            log_path=self._log(name),
        )
        worker.start()
        return worker

    def audio_database(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection to the audio database (autocommit), for reading its tables."""
        url = make_url(self.stack.config.env["AUDIO_DATABASE_URL"]).set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def emulator(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.emulator_url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()


@contextlib.contextmanager
def running_system(
    workdir: Path, gateway_settings: dict[str, str] | None = None, **env: str
) -> Iterator[System]:
    """The stack on fresh databases. ``env`` overrides settings: a measure comparing two
    configurations (VBR, metrics off, another storage backend) starts a second one. The
    gateway's rate limits are off (every measure floods it from one address) unless
    ``gateway_settings`` sets them."""
    with _database("bench_quiz") as quiz_db, _database("bench_audio") as audio_db:
        stack = LocalStack(
            StackConfig(
                workdir=workdir,
                gateway_port=free_port(),
                quiz_ports=[free_port()],
                audio_ports=[free_port()],
                emulator_port=free_port(),
                env={
                    "QUIZ_DATABASE_URL": quiz_db,
                    "AUDIO_DATABASE_URL": audio_db,
                    "QUIZ_LOG_FORMAT": "json",
                    "AUDIO_LOG_FORMAT": "json",
                    "AUDIO_TOKEN_SECRET": "bench-only-token-secret-0123456789",
                    "AUDIO_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
                    "AUDIO_MP3_QUALITY": str(MP3_QUALITY),
                    # The in-request measures convert even 60-minute uploads in the request;
                    # audio.workers asks for jobs with Prefer: respond-async.
                    "AUDIO_SYNC_MAX_DURATION_S": "86400",
                    **env,
                },
                nginx_workers=1,
                gateway_settings={**NO_RATE_LIMITS, **(gateway_settings or {})},
            )
        )
        stack.start()
        try:
            yield System(stack)
        finally:
            stack.stop()
            # wrk runs leave hundreds of MB of access log; the services' logs stay.
            (workdir / "nginx" / "access.log").unlink(missing_ok=True)
