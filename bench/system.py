"""The system under test: two throwaway PostgreSQL databases and the local stack on them.

One emulator, ONE quiz instance and ONE audio instance (so "one service instance" in the
parallel-conversion and memory figures is literally one process), behind the project's nginx
gateway with one worker. The databases are created on the server of ``TEST_DATABASE_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.cpu import PidSource, own_process, process_tree, processes_named
from bench.memory import idle_rss
from devstack.ports import free_port
from devstack.stack import LocalStack, StackConfig
from testkit.postgres import admin_database_url, temporary_database

GIB = 1024**3
DEFAULT_BITRATE_KBPS = 128


@dataclass(frozen=True)
class AudioEncoding:
    bitrate_kbps: int = 128
    quality: int = 3


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """``testkit.postgres.temporary_database`` driven from synchronous code."""
    with asyncio.Runner() as runner:
        manager = temporary_database(prefix)
        url = runner.run(manager.__aenter__())
        try:
            yield url
        finally:
            runner.run(manager.__aexit__(None, None, None))


def postgres_version() -> str:
    async def query() -> str:
        url = make_url(admin_database_url()).set(drivername="postgresql")
        connection = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    try:
        return asyncio.run(query())
    except (OSError, asyncpg.PostgresError) as exc:
        return f"unavailable ({exc})"


class BenchSystem:
    """The running stack plus what the benchmarks need to know about it."""

    def __init__(self, stack: LocalStack, encoding: AudioEncoding) -> None:
        self.stack = stack
        self.encoding = encoding
        # The audio service's RSS right after start, before its first request.
        self.cold_rss = idle_rss(self.pid("audio-0"))

    @property
    def gateway_url(self) -> str:
        return self.stack.gateway_url

    @property
    def emulator_url(self) -> str:
        return self.stack.emulator_url

    @property
    def workdir(self) -> Path:
        return self.stack.config.workdir

    def pid(self, name: str) -> int:
        return self.stack.processes[name].pid

    def log_path(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def log_size(self, name: str) -> int:
        try:
            return self.log_path(name).stat().st_size
        except OSError:
            return 0

    def log_entries_since(self, name: str, offset: int) -> list[dict[str, Any]]:
        """JSON log lines the service wrote after byte ``offset`` of its log file."""
        try:
            with self.log_path(name).open("rb") as log:
                log.seek(offset)
                data = log.read()
        except OSError:
            return []
        entries: list[dict[str, Any]] = []
        for raw in data.splitlines():
            line = raw.decode("utf-8", errors="replace").strip()
            if not line.startswith("{"):
                continue
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    def cpu_groups(self, extra: dict[str, PidSource] | None = None) -> dict[str, PidSource]:
        """Process groups for a CpuMeter: the services, the gateway, PostgreSQL, us."""
        gateway_pid_file = self.workdir / "nginx" / "nginx.pid"

        def gateway() -> list[int]:
            try:
                return process_tree(int(gateway_pid_file.read_text().strip()))
            except (OSError, ValueError):
                return []

        return {
            "audio_service": lambda: process_tree(self.pid("audio-0")),
            "quiz_service": lambda: process_tree(self.pid("quiz-0")),
            "gateway_nginx": gateway,
            "postgres": lambda: processes_named("postgres"),
            "bench_client": own_process,
            **(extra or {}),
        }

    def database_names(self) -> dict[str, str]:
        env = self.stack.config.env
        return {
            "quiz": make_url(env["QUIZ_DATABASE_URL"]).database or "",
            "audio": make_url(env["AUDIO_DATABASE_URL"]).database or "",
        }

    def db_activity(self, settle_s: float = 1.2) -> dict[str, dict[str, int]]:
        """pg_stat_database counters of the two databases: sessions opened, transactions.

        Backends flush their statistics at most once a second when they go idle, hence the
        settle time before reading.
        """
        time.sleep(settle_s)
        names = self.database_names()

        async def query() -> dict[str, dict[str, int]]:
            url = make_url(admin_database_url()).set(drivername="postgresql")
            connection = await asyncpg.connect(url.render_as_string(hide_password=False))
            try:
                rows = await connection.fetch(
                    "SELECT datname, sessions, xact_commit, xact_rollback"
                    " FROM pg_stat_database WHERE datname = ANY($1::text[])",
                    list(names.values()),
                )
            finally:
                await connection.close()
            by_name = {row["datname"]: row for row in rows}
            return {
                service: {
                    "sessions": int(by_name[name]["sessions"]),
                    "transactions": int(by_name[name]["xact_commit"])
                    + int(by_name[name]["xact_rollback"]),
                }
                for service, name in names.items()
                if name in by_name
            }

        return asyncio.run(query())

    def emulator(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.emulator_url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()


@contextlib.contextmanager
def bench_system(
    workdir: Path,
    *,
    encoding: AudioEncoding,
    max_upload_bytes: int = GIB,
    log: Callable[[str], None] = print,
) -> Iterator[BenchSystem]:
    with postgres_database("bench_quiz") as quiz_db, postgres_database("bench_audio") as audio_db:
        config = StackConfig(
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
                # Room for the 60-minute WAV (~635 MB); the gateway's limit follows it.
                "AUDIO_MAX_UPLOAD_BYTES": str(max_upload_bytes),
                "AUDIO_MP3_QUALITY": str(encoding.quality),
                **_bitrate_env(encoding.bitrate_kbps),
            },
            nginx_workers=1,
        )
        stack = LocalStack(config)
        log(
            f"bench: starting the stack in {workdir} (PostgreSQL databases {_db(quiz_db)}, "
            f"{_db(audio_db)})"
        )
        stack.start()
        try:
            yield BenchSystem(stack, encoding)
        finally:
            stack.stop()


def _bitrate_env(bitrate_kbps: int) -> dict[str, str]:
    # Only when it differs from the service's default (128): the service refuses any
    # AUDIO_MP3_BITRATE_KBPS from the environment (its Literal[...] of ints does not accept
    # the string "128"), so setting the default explicitly would stop it from starting.
    if bitrate_kbps == DEFAULT_BITRATE_KBPS:
        return {}
    return {"AUDIO_MP3_BITRATE_KBPS": str(bitrate_kbps)}


def _db(url: str) -> str:
    return make_url(url).database or "?"
