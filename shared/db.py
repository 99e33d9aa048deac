"""Engine, sessions, and the one unit of work through which every transaction commits.

``Database.unit_of_work()`` is the only place that commits (``grep unit_of_work`` finds every
transaction of both services). It opens the session's connection first, so a database that
cannot be reached fails there, and only there, as ``DatabaseUnavailable``; inside the block,
only errors that really come from the driver count as "unavailable" (a DBAPI error of a lost
connection or of a server that refuses to serve, see ``is_unavailable``). Any other error,
``TimeoutError`` and ``OSError`` included, is left alone: it is a bug, and a logged 500.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from shared.errors import DatabaseUnavailable
from shared.settings import ServiceSettings

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}

# SQLSTATEs of a server that cannot serve anybody right now (not of a wrong query): class 08
# (connection exception), 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now
# ("the database system is shutting down" / "is starting up"), 53300 too_many_connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})

# What opening a connection raises when the server is away: the driver's connect errors come
# as they are (refused, reset, DNS, its own timeout), the pool's wait as sa_exc.TimeoutError,
# and an answer such as "starting up" as a DBAPIError.
_CONNECT_FAILURES = (OSError, TimeoutError, sa_exc.TimeoutError, sa_exc.DBAPIError)

UNAVAILABLE_DETAIL = "The database is unavailable; retry later."


def async_url(database_url: str) -> URL:
    """Accepts plain ``postgresql://``/``sqlite://`` URLs and picks the async driver."""
    url = make_url(database_url)
    if url.drivername in _ASYNC_DRIVERS:
        url = url.set(drivername=_ASYNC_DRIVERS[url.drivername])
    return url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run during a write; busy_timeout queues writers instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(settings: ServiceSettings, application_name: str) -> AsyncEngine:
    url = async_url(settings.database_url)
    if is_sqlite(url):
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        # A restarted server leaves dead connections in the pool; ping before use to recover.
        # A ping that finds one dead also retires every connection opened before it.
        pool_pre_ping=True,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.db_statement_timeout_s,
            "server_settings": {"application_name": application_name},
        },
    )
    timeout_s = settings.db_dead_connection_timeout_s
    event.listen(engine.sync_engine, "connect", lambda conn, _rec: _drop_when_dead(conn, timeout_s))
    return engine


def _drop_when_dead(dbapi_connection: Any, timeout_s: float) -> None:
    """Lets the kernel close a connection whose server went away without a word.

    A server that stops (restart, crash) closes its sockets, and the pre-ping sees that at
    once. A server whose address vanished (its container replaced: the new one has another
    address) sends nothing at all: the kernel would retransmit for some 15 minutes, so the
    pre-ping (and every statement) would hang until the statement timeout, then fail with a
    TimeoutError that does not count as a lost connection, and the next request would pick
    the next dead connection. With TCP_USER_TIMEOUT, data left unacknowledged for
    ``timeout_s`` closes the socket; keepalive probes do the same for an idle connection.
    The closed connection is then a disconnect that the pool recovers from.
    """
    # asyncpg has no socket options of its own; its connection keeps the asyncio transport.
    transport = getattr(dbapi_connection.driver_connection, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a unix socket: the server is on this machine, its end closes with it
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(timeout_s * 1000))
        # The first probe after half the timeout of silence, then one a second; with a user
        # timeout set, that timeout (not a probe count) decides when the connection dies. So
        # an idle connection to a vanished server is closed within 1.5 x timeout_s.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, round(timeout_s / 2)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)


def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_unavailable(exc: sa_exc.DBAPIError) -> bool:
    """True for "cannot use the database now" (lost connection, server shutting down or
    starting up, no connection slot left), False for "this statement is wrong"."""
    if exc.connection_invalidated:
        return True
    code = _sqlstate(exc)
    return code is not None and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES)


@dataclass(slots=True)
class PoolStats:
    """What the pool itself does not count, for the metrics (``shared.metrics``)."""

    capacity: int | None = None
    """DB_POOL_SIZE + DB_MAX_OVERFLOW on PostgreSQL; None where the pool is SQLAlchemy's own
    default (SQLite)."""
    waits: int = 0
    """Checkouts that found ``capacity`` connections in use, so had to wait for one."""
    timeouts: int = 0
    """Checkouts that gave up after DB_POOL_TIMEOUT_S."""


@dataclass(slots=True)
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    pool_stats: PoolStats = field(default_factory=PoolStats)

    @classmethod
    def from_settings(cls, settings: ServiceSettings, application_name: str) -> Database:
        engine = create_engine(settings, application_name)
        capacity = None
        if not is_sqlite(engine.url):
            capacity = settings.db_pool_size + settings.db_max_overflow
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        return cls(engine, sessionmaker, PoolStats(capacity=capacity))

    def _pool_exhausted(self) -> bool:
        capacity = self.pool_stats.capacity
        pool = self.engine.pool
        return (
            capacity is not None and isinstance(pool, QueuePool) and (pool.checkedout() >= capacity)
        )

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back if it raises.

        Repositories only flush; this is the one commit of both services.
        """
        async with self.sessionmaker() as session:
            if self._pool_exhausted():
                self.pool_stats.waits += 1
            try:
                await session.connection()
            except _CONNECT_FAILURES as exc:
                if isinstance(exc, sa_exc.TimeoutError):
                    self.pool_stats.timeouts += 1
                raise DatabaseUnavailable(UNAVAILABLE_DETAIL) from exc
            try:
                yield session
                await session.commit()
            except sa_exc.DBAPIError as exc:
                if is_unavailable(exc):
                    raise DatabaseUnavailable(UNAVAILABLE_DETAIL) from exc
                raise

    async def ping(self, timeout_s: float) -> None:
        """``SELECT 1`` within ``timeout_s``; ``DatabaseUnavailable`` otherwise."""
        try:
            async with asyncio.timeout(timeout_s), self.unit_of_work() as session:
                await session.execute(text("SELECT 1"))
        except TimeoutError as exc:
            raise DatabaseUnavailable(
                f"The database did not answer within {timeout_s:g} s."
            ) from exc

    async def dispose(self) -> None:
        await self.engine.dispose()


# Stable constraint names, so migrations can refer to them on both PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
