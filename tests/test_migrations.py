"""Each service's Alembic history: reversible, on both dialects, isolated, safe to run at once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from audio_service.models import Base as AudioBase
from quiz_service.models import Base as QuizBase
from shared.db import async_url
from shared.migrations import downgrade_database, upgrade_database
from testkit.postgres import temporary_database

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "quiz": (ROOT / "quiz_service" / "alembic.ini", QuizBase),
    "audio": (ROOT / "audio_service" / "alembic.ini", AudioBase),
}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


# The quiz service's full-text index on SQLite: an FTS5 table and its shadow tables, made by
# the migration (no model describes a virtual table).
SQLITE_ONLY = {
    "quiz": {f"questions_fts{suffix}" for suffix in ("", "_data", "_idx", "_docsize", "_config")},
    "audio": set(),
}


# The job queue's own tables (procrastinate's schema, audio_service.job_queue): PostgreSQL only.
QUEUE_TABLES = {
    "procrastinate_jobs",
    "procrastinate_workers",
    "procrastinate_events",
    "procrastinate_periodic_defers",
}


def _expected(service: str, *, postgres: bool = False) -> set[str]:
    _, base = SERVICES[service]
    queue = QUEUE_TABLES if postgres and service == "audio" else set()
    return set(base.metadata.tables) | {f"{service}_alembic_version"} | queue


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_upgrade_downgrade_upgrade_on_postgresql(service: str) -> None:
    alembic_ini, _ = SERVICES[service]
    async with temporary_database(f"test_mig_{service}") as url:
        await asyncio.to_thread(upgrade_database, alembic_ini, url)
        assert await _tables(url) == _expected(service, postgres=True)
        await asyncio.to_thread(downgrade_database, alembic_ini, url)
        assert await _tables(url) == {f"{service}_alembic_version"}
        await asyncio.to_thread(upgrade_database, alembic_ini, url)
        assert await _tables(url) == _expected(service, postgres=True)


@pytest.mark.sqlite
@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_upgrade_downgrade_on_sqlite(service: str, tmp_path: Path) -> None:
    alembic_ini, _ = SERVICES[service]
    url = f"sqlite+aiosqlite:///{tmp_path}/{service}.db"
    await asyncio.to_thread(upgrade_database, alembic_ini, url)
    assert await _tables(url) == _expected(service) | SQLITE_ONLY[service]
    await asyncio.to_thread(downgrade_database, alembic_ini, url)
    assert await _tables(url) == {f"{service}_alembic_version"}


async def test_both_histories_share_one_database_without_touching_each_other() -> None:
    async with temporary_database("test_mig_both") as url:
        await asyncio.to_thread(upgrade_database, SERVICES["quiz"][0], url)
        await asyncio.to_thread(upgrade_database, SERVICES["audio"][0], url)
        audio = _expected("audio", postgres=True)
        assert await _tables(url) == _expected("quiz") | audio
        await asyncio.to_thread(downgrade_database, SERVICES["quiz"][0], url)
        assert await _tables(url) == audio | {"quiz_alembic_version"}


async def test_replicas_migrating_at_once_all_succeed() -> None:
    async with temporary_database("test_mig_race") as url:
        env_var = "QUIZ_DATABASE_URL"
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "quiz_service",
                "migrate",
                cwd=ROOT,
                env={"PATH": "/usr/bin:/bin", env_var: url, "QUIZ_LOG_FORMAT": "text"},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        results = [await process.communicate() for process in processes]
        codes = [process.returncode for process in processes]
        assert codes == [0, 0, 0, 0], [out.decode()[-2000:] for out, _ in results]
        assert await _tables(url) == _expected("quiz")
