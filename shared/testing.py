"""Test helpers both services use: throwaway PostgreSQL databases and an in-process client.

Tests always run against a real PostgreSQL (``TEST_DATABASE_URL``). Each test session
creates its own uniquely named databases and drops them at the end.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Under CI a missing dependency fails the run; locally it skips with the reason."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(reason)


# The team's recorded jservice responses live beside the checkout (../shared/data), in CI as on
# a developer's machine; they are test data only and are not shipped with the project.
_SAMPLE_PATH = Path(__file__).resolve().parents[2] / "shared/data/jservice_random_sample.json"


def recorded_jservice_sample() -> list[dict[str, Any]]:
    """70 items exactly as the real jservice returned them (``JSERVICE_SAMPLE_PATH`` or
    ``../shared/data``). Missing: fails under CI, else skips the calling module or test."""
    path = Path(os.environ.get("JSERVICE_SAMPLE_PATH", _SAMPLE_PATH))
    if not path.is_file():
        reason = f"the recorded jservice sample is missing at {path} (set JSERVICE_SAMPLE_PATH)"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: refusing to skip)", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
    items: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return items


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin_connection() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_plain(admin_database_url()), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at TEST_DATABASE_URL={admin_database_url()} is unreachable: {exc}")
        raise  # unreachable: unavailable() always raises


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


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Runs the app's lifespan and yields a client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
