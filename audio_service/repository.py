"""All SQL of the audio service. Functions only flush; ``Database.unit_of_work`` commits."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from audio_service.models import Record, RecordChunk, User
from audio_service.quota import Usage


async def insert_user(session: AsyncSession, *, name: str, token_hash: bytes) -> User | None:
    """The new user, or None when the name is taken (also under a concurrent insert)."""
    values = {"name": name, "token_hash": token_hash}
    # ON CONFLICT instead of catching IntegrityError: a taken name is an expected outcome,
    # not an aborted transaction and an error line in the PostgreSQL log.
    dialect = session.get_bind().dialect.name
    statement = (
        postgresql.insert(User) if dialect == "postgresql" else sqlite.insert(User)
    ).values(**values)
    result = await session.execute(
        statement.on_conflict_do_nothing(index_elements=[User.name]).returning(User)
    )
    return result.scalar_one_or_none()


async def token_hash(session: AsyncSession, user_id: int) -> bytes | None:
    """The stored hash of the user's token; None when there is no such user. Only the one
    column, so an unknown user and a wrong token cost the same query and no ORM object."""
    value: bytes | None = await session.scalar(select(User.token_hash).where(User.id == user_id))
    return value


# --- quotas (audio_service.quota) ---


async def lock_user(session: AsyncSession, user_id: int) -> bool:
    """Locks the user's row until the transaction ends; False if there is no such user.

    An UPDATE (of nothing) rather than SELECT ... FOR UPDATE: SQLite has no row locks, but
    a write takes its database write lock, and on PostgreSQL it takes the row's lock.
    """
    result = await session.execute(
        update(User).where(User.id == user_id).values(id=User.id).returning(User.id)
    )
    return result.scalar_one_or_none() is not None


async def usage(session: AsyncSession, user_id: int) -> Usage:
    """What the user stores now: MP3 bytes and records."""
    row = (
        await session.execute(
            select(func.coalesce(func.sum(Record.mp3_size), 0), func.count()).where(
                Record.user_id == user_id
            )
        )
    ).one()
    return Usage(bytes=int(row[0]), records=int(row[1]))


# --- records ---


async def add_record(session: AsyncSession, record: Record) -> None:
    session.add(record)
    await session.flush()


async def add_chunk(session: AsyncSession, record_id: uuid.UUID, seq: int, data: bytes) -> None:
    # Core insert: the ORM would keep every chunk's bytes in the identity map until commit.
    await session.execute(insert(RecordChunk).values(record_id=record_id, seq=seq, data=data))


async def get_record(session: AsyncSession, record_id: uuid.UUID, user_id: int) -> Record | None:
    result = await session.execute(
        select(Record).where(Record.id == record_id, Record.user_id == user_id)
    )
    return result.scalar_one_or_none()


async def read_chunk(session: AsyncSession, record_id: uuid.UUID, seq: int) -> bytes | None:
    result = await session.execute(
        select(RecordChunk.data).where(RecordChunk.record_id == record_id, RecordChunk.seq == seq)
    )
    data: bytes | None = result.scalar_one_or_none()
    return data


async def list_records(
    session: AsyncSession, user_id: int, *, limit: int, offset: int
) -> tuple[list[Record], int]:
    """A page of the user's records, newest first, and how many they have in all."""
    total = await session.scalar(
        select(func.count()).select_from(Record).where(Record.user_id == user_id)
    )
    result = await session.execute(
        select(Record)
        .where(Record.user_id == user_id)
        .order_by(Record.created_at.desc(), Record.id)
        .limit(limit)
        .offset(offset)
    )
    return list(result.scalars()), int(total or 0)


async def delete_record(session: AsyncSession, record_id: uuid.UUID, user_id: int) -> bool:
    """Delete the record and (by the foreign key's cascade) its chunks; False if none."""
    result = await session.execute(
        delete(Record).where(Record.id == record_id, Record.user_id == user_id).returning(Record.id)
    )
    return result.scalar_one_or_none() is not None
