"""Pooled connections to a server that vanished without a word (a database container
replaced: its old address answers nothing, not even a reset) cost at most
DB_DEAD_CONNECTION_TIMEOUT_S, not the statement timeout or the kernel's 15 minutes.

The real PostgreSQL of the tests; the pooled connections' packets are dropped with iptables
(matched by their own client ports, so new connections get through, as they reach the new
container), which is what a vanished address does: no answer, no reset.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shared.db import Database
from shared.errors import DatabaseUnavailable
from shared.settings import ServiceSettings
from testkit.postgres import admin_database_url, unavailable

DEAD_TIMEOUT_S = 2.0
# Far longer, so that passing within DEAD_TIMEOUT_S cannot be the statement timeout's doing.
STATEMENT_TIMEOUT_S = 60.0
POOL_SIZE = 3
# A new connection and a query on a busy 2-core machine.
SLACK_S = 3.0


class Settings(ServiceSettings):
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"


def _plain_url() -> str:
    url = make_url(admin_database_url()).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@contextmanager
def dropped(client_ports: list[int], server_port: int) -> Iterator[None]:
    """Drops every packet these client ports send to the server, until the block ends.

    On arrival (INPUT), not on the way out: a packet dropped in OUTPUT fails the sender's
    send call, which the kernel treats as a local error, not as a silent network."""
    rule = [
        "INPUT", "-p", "tcp", "--dport", str(server_port),
        "-m", "multiport", "--sports", ",".join(map(str, client_ports)),
        "-m", "comment", "--comment", f"quiz-audio dead-connection test {os.getpid()}",
        "-j", "DROP",
    ]  # fmt: skip
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=True)


@pytest.fixture
async def pooled() -> AsyncIterator[tuple[Database, list[int], int]]:
    """A database with POOL_SIZE pooled connections; their client ports; the server port."""
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        unavailable("dropping packets needs root and iptables")
    name = f"dead-connections-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=_plain_url(),
        db_pool_size=POOL_SIZE,
        db_max_overflow=0,
        db_statement_timeout_s=STATEMENT_TIMEOUT_S,
        db_dead_connection_timeout_s=DEAD_TIMEOUT_S,
    )
    database = Database.from_settings(settings, name)
    inside = 0
    all_inside = asyncio.Event()

    async def hold() -> None:
        nonlocal inside
        async with database.unit_of_work() as session:
            await session.execute(text("SELECT 1"))
            inside += 1
            if inside == POOL_SIZE:
                all_inside.set()
            await all_inside.wait()

    await asyncio.gather(*(hold() for _ in range(POOL_SIZE)))
    admin = await asyncpg.connect(_plain_url(), timeout=5)
    try:
        rows = await admin.fetch(
            "SELECT client_port FROM pg_stat_activity WHERE application_name = $1", name
        )
    finally:
        await admin.close()
    ports = [row["client_port"] for row in rows]
    assert len(ports) == POOL_SIZE, f"expected {POOL_SIZE} pooled connections, found {ports}"
    try:
        yield database, ports, make_url(_plain_url()).port or 5432
    finally:
        await database.dispose()


async def test_pooled_connections_to_a_vanished_server_are_replaced_within_the_timeout(
    pooled: tuple[Database, list[int], int],
) -> None:
    database, ports, server_port = pooled
    took: list[float] = []
    with dropped(ports, server_port):
        for _ in range(POOL_SIZE + 1):
            start = time.monotonic()
            async with asyncio.timeout(STATEMENT_TIMEOUT_S / 2), database.unit_of_work() as s:
                assert (await s.execute(text("SELECT 1"))).scalar_one() == 1
            took.append(time.monotonic() - start)
    # The first checkout's ping waits for the kernel to give up on its connection, which
    # retires every connection opened before it: a later checkout closes its stale one
    # (a close that waits at most the timeout too) and opens a new one.
    slow = [f"{seconds:.1f}" for seconds in took if seconds >= DEAD_TIMEOUT_S + SLACK_S]
    assert not slow, f"requests over dead pooled connections took {slow} s"


async def test_a_statement_on_a_vanished_connection_fails_as_unavailable_within_the_timeout(
    pooled: tuple[Database, list[int], int],
) -> None:
    database, ports, server_port = pooled
    dropped_at: list[float] = []

    async def statement_after_the_drop() -> None:
        async with asyncio.timeout(STATEMENT_TIMEOUT_S / 2), database.unit_of_work() as session:
            await session.execute(text("SELECT 1"))  # checked out (and pinged) while alive
            with dropped(ports, server_port):
                dropped_at.append(time.monotonic())
                await session.execute(text("SELECT 2"))

    with pytest.raises(DatabaseUnavailable):
        await statement_after_the_drop()
    took = time.monotonic() - dropped_at[0]
    assert took < DEAD_TIMEOUT_S + SLACK_S, f"the statement failed after {took:.1f} s"
