"""The quiz migrations on PostgreSQL: they match the models and undo cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
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


BEFORE_THE_BANK = "2daf945ca5a9"


def _insert_old_rows(connection: Connection) -> None:
    rows = [
        ("jservice", "1", "A river in Spain", "the Douro", "rivers"),
        ("jservice", "2", "A river in France", "the Seine", "rivers"),
        ("opentdb", "abc", "Largest planet?", "Jupiter", "Science: Space"),
        ("jservice", "3", "No category here", "none", None),
    ]
    for source, upstream_id, question, answer, category in rows:
        connection.execute(
            text(
                "INSERT INTO questions (source, upstream_id, question, answer, raw_question, "
                "raw_answer, category, created_at, raw) VALUES (:s, :u, :q, :a, :q, :a, :c, "
                "now(), '{}')"
            ),
            {"s": source, "u": upstream_id, "q": question, "a": answer, "c": category},
        )


def _bank_state(connection: Connection) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    categories = connection.execute(
        text("SELECT title, clues_count FROM categories ORDER BY title")
    ).all()
    filed = connection.execute(
        text(
            "SELECT q.upstream_id, c.title FROM questions q JOIN categories c "
            "ON c.id = q.category_id ORDER BY q.upstream_id"
        )
    ).all()
    return [tuple(row) for row in categories], [tuple(row) for row in filed]


def _search(connection: Connection, words: str) -> list[str]:
    statement = text(
        "SELECT upstream_id FROM questions WHERE search @@ "
        "plainto_tsquery('simple', :words) ORDER BY upstream_id"
    )
    return list(connection.scalars(statement, {"words": words}))


async def test_the_bank_migration_back_fills_categories_and_search() -> None:
    async with temporary_database("test_quiz_backfill") as url:
        await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url, BEFORE_THE_BANK)
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_insert_old_rows)
            await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
            async with engine.connect() as connection:
                categories, filed = await connection.run_sync(_bank_state)
                found = await connection.run_sync(_search, "river")
                space = await connection.run_sync(_search, "space")
        finally:
            await engine.dispose()
    assert categories == [("", 1), ("Science: Space", 1), ("rivers", 2)]
    assert filed == [("1", "rivers"), ("2", "rivers"), ("3", ""), ("abc", "Science: Space")]
    assert found == ["1", "2"]
    assert space == ["abc"]
