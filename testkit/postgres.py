"""Throwaway PostgreSQL databases on the test server (``TEST_DATABASE_URL``).

Tests always run against a real PostgreSQL. Each test session creates its own uniquely named
databases and drops them at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import async_url
from shared.migrations import upgrade_database

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Under CI a missing dependency fails the run; locally it skips with the reason."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(reason)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin_connection() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_plain(admin_database_url()), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at TEST_DATABASE_URL={admin_database_url()} is unreachable: {exc}")


@asynccontextmanager
async def temporary_database(prefix: str) -> AsyncIterator[str]:
    """Creates ``<prefix>_<random>`` on the test server, yields its URL, drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield (
            make_url(_plain(admin_database_url()))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        admin = await _admin_connection()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def truncate_all(engine: AsyncEngine, metadata: MetaData) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    if not tables:
        return
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(table.delete())


async def row_counts(engine: AsyncEngine, metadata: MetaData) -> dict[str, int]:
    """Rows per table of ``metadata``."""
    counts: dict[str, int] = {}
    async with engine.connect() as connection:
        for table in metadata.sorted_tables:
            counted = await connection.scalar(text(f'SELECT count(*) FROM "{table.name}"'))  # noqa: S608
            counts[table.name] = int(counted or 0)
    return counts


def database_fixtures(prefix: str, alembic_ini: Path) -> tuple[Any, Any]:
    """The ``database_url`` (a throwaway database with the service's migrations) and
    ``db_engine`` (for assertions and truncation) session fixtures of a service's tests:
    ``database_url, db_engine = database_fixtures("test_quiz", ALEMBIC_INI)`` in a conftest."""

    @pytest.fixture(scope="session", name="database_url")
    async def database_url() -> AsyncIterator[str]:
        async with temporary_database(prefix) as url:
            await asyncio.to_thread(upgrade_database, alembic_ini, url)
            yield url

    @pytest.fixture(scope="session", name="db_engine")
    async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
        engine = create_async_engine(async_url(database_url))
        yield engine
        await engine.dispose()

    return database_url, db_engine
