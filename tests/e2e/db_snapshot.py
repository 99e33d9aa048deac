"""Snapshots of a PostgreSQL database's contents: row count and checksum of every table.

``await snapshot(url)`` reads every user table (all schemas but PostgreSQL's own) and returns
``{"schema.table": TableState(rows, checksum)}``; ``diff(before, after)`` lists what changed.
The checksum is the md5 of all rows rendered as text in a fixed order, so any changed byte in
any column of any row (bytea included) changes it. Sequences are not compared: PostgreSQL
advances them even for inserts that end up not happening (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

_TABLES_SQL = """
SELECT table_schema, table_name
FROM information_schema.tables
WHERE table_type = 'BASE TABLE'
  AND table_schema NOT IN ('pg_catalog', 'information_schema')
  AND table_schema NOT LIKE 'pg_toast%'
ORDER BY table_schema, table_name
"""


@dataclass(frozen=True)
class TableState:
    rows: int
    checksum: str | None  # None for an empty table


DatabaseSnapshot = dict[str, TableState]


def plain_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+asyncpg://…``) as asyncpg wants it (``postgresql://…``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(plain_url(url), timeout=10)


async def table_names(connection: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await connection.fetch(_TABLES_SQL)
    return [(row["table_schema"], row["table_name"]) for row in rows]


async def snapshot(url: str) -> DatabaseSnapshot:
    """Row count and content checksum of every table of the database at ``url``."""
    connection = await connect(url)
    try:
        # One snapshot sees one consistent state of the whole database.
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            result: DatabaseSnapshot = {}
            for schema, table in await table_names(connection):
                qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
                row = await connection.fetchrow(
                    f"SELECT count(*) AS rows, "  # noqa: S608 - names come from the catalog
                    f"md5(string_agg(t::text, ',' ORDER BY t::text)) AS checksum "
                    f"FROM {qualified} t"
                )
                assert row is not None
                result[f"{schema}.{table}"] = TableState(int(row["rows"]), row["checksum"])
            return result
    finally:
        await connection.close()


def diff(before: DatabaseSnapshot, after: DatabaseSnapshot) -> list[str]:
    """Human-readable differences between two snapshots; empty when identical."""
    changes: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None:
            changes.append(f"{name}: table appeared ({new})")
        elif new is None:
            changes.append(f"{name}: table disappeared (was {old})")
        elif old != new:
            changes.append(
                f"{name}: rows {old.rows} -> {new.rows}, checksum {old.checksum} -> {new.checksum}"
            )
    return changes


async def table_rows_as_text(url: str) -> dict[str, list[str]]:
    """Every row of every table rendered as PostgreSQL text (bytea as ``\\x`` hex)."""
    connection = await connect(url)
    try:
        result: dict[str, list[str]] = {}
        for schema, table in await table_names(connection):
            qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
            rows = await connection.fetch(f"SELECT t::text AS row FROM {qualified} t")  # noqa: S608
            result[f"{schema}.{table}"] = [str(row["row"]) for row in rows]
        return result
    finally:
        await connection.close()
