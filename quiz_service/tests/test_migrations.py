"""The quiz migrations on PostgreSQL: they match the models and undo cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from quiz_service.models import Base
from shared.db import async_url
from shared.migrations import downgrade_database, upgrade_database
from testkit.postgres import temporary_database

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "version_table": "quiz_alembic_version"}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> list[str]:
    return inspect(connection).get_table_names()


async def test_upgrade_matches_models_and_downgrade_removes_everything() -> None:
    async with temporary_database("test_quiz_migrations") as url:
        await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                assert await connection.run_sync(_drift) == []
            await asyncio.to_thread(downgrade_database, ALEMBIC_INI, url)
            async with engine.connect() as connection:
                assert await connection.run_sync(_tables) == ["quiz_alembic_version"]
            await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
            async with engine.connect() as connection:
                assert "questions" in await connection.run_sync(_tables)
        finally:
            await engine.dispose()
