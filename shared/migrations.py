"""Alembic plumbing both services share: their ``env.py`` files call ``run_env``.

Each service keeps its own migration history and version table. On PostgreSQL the upgrade
runs under a transaction-scoped advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import async_url, is_sqlite

DATABASE_URL_ATTRIBUTE = "database_url"


def upgrade_database(alembic_ini: Path, database_url: str, revision: str = "head") -> None:
    """Blocking; call it before serving, or through ``asyncio.to_thread`` from async code."""
    config = Config(str(alembic_ini))
    # Passed as an attribute, not an ini option: configparser would choke on '%' in passwords.
    config.attributes[DATABASE_URL_ATTRIBUTE] = database_url
    command.upgrade(config, revision)


def downgrade_database(alembic_ini: Path, database_url: str, revision: str = "base") -> None:
    config = Config(str(alembic_ini))
    config.attributes[DATABASE_URL_ATTRIBUTE] = database_url
    command.downgrade(config, revision)


def _lock_key(version_table: str) -> int:
    return zlib.crc32(version_table.encode())


def run_env(*, metadata: MetaData, version_table: str, default_url: Callable[[], str]) -> None:
    database_url: str = context.config.attributes.get(DATABASE_URL_ATTRIBUTE) or default_url()
    url = async_url(database_url)
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "version_table": version_table,
        "render_as_batch": is_sqlite(url),  # SQLite can only ALTER by copying the table
        "compare_type": True,
    }

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(version_table)}
                )
            context.run_migrations()

    async def run() -> None:
        if is_sqlite(url) and url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(run())
