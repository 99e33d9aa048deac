"""All SQL of the audio service. Functions only flush; ``Database.unit_of_work`` commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from audio_service.models import (
    CONVERTING,
    DELETING,
    DONE,
    FAILED,
    PENDING,
    QUEUED,
    READY,
    ConversionJob,
    JobChunk,
    Record,
    RecordChunk,
    RecordPeaks,
    User,
)
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


async def add_peaks(session: AsyncSession, record_id: uuid.UUID, data: bytes) -> None:
    await session.execute(insert(RecordPeaks).values(record_id=record_id, data=data))


async def get_record_peaks(
    session: AsyncSession, record_id: uuid.UUID, user_id: int
) -> tuple[Record, bytes | None] | None:
    """A visible record of ``user_id`` and its peaks (None: it has none), in one query."""
    result = await session.execute(
        select(Record, RecordPeaks.data)
        .outerjoin(RecordPeaks, RecordPeaks.record_id == Record.id)
        .where(Record.id == record_id, Record.user_id == user_id, Record.state == READY)
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])


async def add_chunk(session: AsyncSession, record_id: uuid.UUID, seq: int, data: bytes) -> None:
    # Core insert: the ORM would keep every chunk's bytes in the identity map until commit.
    await session.execute(insert(RecordChunk).values(record_id=record_id, seq=seq, data=data))


async def mark_ready(session: AsyncSession, record_id: uuid.UUID) -> bool:
    """Pending -> ready: the record becomes visible. False if it is no longer pending (the
    sweeper took it as abandoned)."""
    result = await session.execute(
        update(Record)
        .where(Record.id == record_id, Record.state == PENDING)
        .values(state=READY)
        .returning(Record.id)
    )
    return result.scalar_one_or_none() is not None


async def get_record(session: AsyncSession, record_id: uuid.UUID, user_id: int) -> Record | None:
    """A visible (ready) record of ``user_id``."""
    result = await session.execute(
        select(Record).where(
            Record.id == record_id, Record.user_id == user_id, Record.state == READY
        )
    )
    return result.scalar_one_or_none()


async def record_owner(session: AsyncSession, record_id: uuid.UUID) -> int | None:
    """The user id of the record's owner; None when there is no such record."""
    owner: int | None = await session.scalar(select(Record.user_id).where(Record.id == record_id))
    return owner


async def read_chunks(
    session: AsyncSession, record_id: uuid.UUID, first: int, last: int
) -> list[bytes]:
    """Chunks ``first..last`` of a record in order, in one query (those that exist)."""
    result = await session.execute(
        select(RecordChunk.data)
        .where(RecordChunk.record_id == record_id, RecordChunk.seq.between(first, last))
        .order_by(RecordChunk.seq)
    )
    return list(result.scalars())


async def delete_chunks(session: AsyncSession, record_id: uuid.UUID) -> None:
    await session.execute(delete(RecordChunk).where(RecordChunk.record_id == record_id))


async def list_records(
    session: AsyncSession, user_id: int, *, limit: int, offset: int
) -> tuple[list[Record], int]:
    """A page of the user's records, newest first, and how many they have in all."""
    visible = (Record.user_id == user_id, Record.state == READY)
    total = await session.scalar(select(func.count()).select_from(Record).where(*visible))
    result = await session.execute(
        select(Record)
        .where(*visible)
        .order_by(Record.created_at.desc(), Record.id)
        .limit(limit)
        .offset(offset)
    )
    return list(result.scalars()), int(total or 0)


async def mark_deleting(session: AsyncSession, record_id: uuid.UUID, user_id: int) -> Record | None:
    """Ready -> deleting: the record is invisible from this commit on; None if there is no
    such visible record."""
    result = await session.execute(
        update(Record)
        .where(Record.id == record_id, Record.user_id == user_id, Record.state == READY)
        .values(state=DELETING)
        .returning(Record)
    )
    return result.scalar_one_or_none()


async def delete_record_row(session: AsyncSession, record_id: uuid.UUID) -> None:
    """The row (and, by the foreign key's cascade, any chunks left)."""
    await session.execute(delete(Record).where(Record.id == record_id))


# --- the storage sweeper and the migration --------------------------------------------------


async def unfinished_records(
    session: AsyncSession, *, pending_before: datetime, limit: int
) -> list[Record]:
    """Records a sweep must finish or undo: every one being deleted, and those pending since
    before ``pending_before`` (their upload was abandoned)."""
    result = await session.execute(
        select(Record)
        .where(
            (Record.state == DELETING)
            | ((Record.state == PENDING) & (Record.created_at < pending_before))
        )
        .order_by(Record.created_at)
        .limit(limit)
    )
    return list(result.scalars())


async def referenced_keys(session: AsyncSession, storage: str, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` some record row (in any state) names as its object."""
    if not keys:
        return set()
    result = await session.execute(
        select(Record.storage_key).where(Record.storage == storage, Record.storage_key.in_(keys))
    )
    return {key for key in result.scalars() if key is not None}


async def records_to_migrate(
    session: AsyncSession, target: str, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Record]:
    """Ready records not yet on ``target``, oldest first, after the keyset ``after``."""
    statement = select(Record).where(Record.state == READY, Record.storage != target)
    if after is not None:
        created, record_id = after
        statement = statement.where(
            (Record.created_at > created)
            | ((Record.created_at == created) & (Record.id > record_id))
        )
    result = await session.execute(statement.order_by(Record.created_at, Record.id).limit(limit))
    return list(result.scalars())


async def move_record(
    session: AsyncSession,
    record_id: uuid.UUID,
    *,
    source: str,
    target: str,
    storage_key: str | None,
) -> bool:
    """Points a ready record at its copy on ``target``; False when it changed meanwhile
    (deleted, or already moved by another run)."""
    result = await session.execute(
        update(Record)
        .where(Record.id == record_id, Record.state == READY, Record.storage == source)
        .values(storage=target, storage_key=storage_key)
        .returning(Record.id)
    )
    return result.scalar_one_or_none() is not None


async def storage_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Records per (storage, state)."""
    result = await session.execute(
        select(Record.storage, Record.state, func.count()).group_by(Record.storage, Record.state)
    )
    return {(storage, state): int(count) for storage, state, count in result.all()}


# --- conversion jobs (audio_service.jobs) ----------------------------------------------------


async def add_job(session: AsyncSession, job: ConversionJob) -> None:
    session.add(job)
    await session.flush()


async def add_job_chunk(session: AsyncSession, job_id: uuid.UUID, seq: int, data: bytes) -> None:
    await session.execute(insert(JobChunk).values(job_id=job_id, seq=seq, data=data))


async def read_job_chunks(
    session: AsyncSession, job_id: uuid.UUID, first: int, last: int
) -> list[bytes]:
    """Chunks ``first..last`` of a job's staged WAV in order, in one query."""
    result = await session.execute(
        select(JobChunk.data)
        .where(JobChunk.job_id == job_id, JobChunk.seq.between(first, last))
        .order_by(JobChunk.seq)
    )
    return list(result.scalars())


# procrastinate's own function for deferring (versioned by procrastinate: ``_v1`` keeps its
# signature across its releases). Called here, in the caller's transaction, rather than
# through procrastinate's connector (its own connection), so that the job row and its queue
# entry commit together: a crash between them cannot lose a job nor queue a missing one.
_DEFER_JOB = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW("
    "CAST(:queue AS varchar), CAST(:task AS varchar), 0, NULL, NULL, "
    "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1])"
)


async def defer_job(session: AsyncSession, *, queue: str, task: str, args: dict[str, Any]) -> None:
    """Queues procrastinate task ``task`` with ``args`` (committed with the transaction)."""
    await session.execute(_DEFER_JOB, {"queue": queue, "task": task, "args": json.dumps(args)})


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> ConversionJob | None:
    result = await session.execute(select(ConversionJob).where(ConversionJob.id == job_id))
    return result.scalar_one_or_none()


async def claim_job(session: AsyncSession, job_id: uuid.UUID) -> ConversionJob | None:
    """Queued (or converting: a worker died on it) -> converting, counting one more attempt;
    None when the job is final or gone."""
    result = await session.execute(
        update(ConversionJob)
        .where(ConversionJob.id == job_id, ConversionJob.status.in_((QUEUED, CONVERTING)))
        .values(status=CONVERTING, attempts=ConversionJob.attempts + 1, progress=0.0)
        .returning(ConversionJob)
    )
    return result.scalar_one_or_none()


def _attempt(job_id: uuid.UUID, attempt: int) -> Any:
    return (
        (ConversionJob.id == job_id)
        & (ConversionJob.status == CONVERTING)
        & (ConversionJob.attempts == attempt)
    )


async def set_job_progress(
    session: AsyncSession, job_id: uuid.UUID, attempt: int, progress: float
) -> None:
    await session.execute(
        update(ConversionJob).where(_attempt(job_id, attempt)).values(progress=progress)
    )


async def finish_job(
    session: AsyncSession, job_id: uuid.UUID, attempt: int, record_id: uuid.UUID
) -> bool:
    """Converting (by this attempt) -> done with its record, and the staged WAV goes; False
    when another attempt took the job over meanwhile (it keeps it)."""
    result = await session.execute(
        update(ConversionJob)
        .where(_attempt(job_id, attempt))
        .values(status=DONE, record_id=record_id, progress=1.0)
        .returning(ConversionJob.id)
    )
    if result.scalar_one_or_none() is None:
        return False
    await session.execute(delete(JobChunk).where(JobChunk.job_id == job_id))
    return True


async def fail_job(
    session: AsyncSession, job_id: uuid.UUID, attempt: int | None, problem: dict[str, Any]
) -> ConversionJob | None:
    """-> failed with ``problem`` (only by attempt ``attempt`` when given), and the staged WAV
    goes; None when the job was final already or another attempt holds it."""
    condition = (
        _attempt(job_id, attempt)
        if attempt is not None
        else (ConversionJob.id == job_id) & ConversionJob.status.in_((QUEUED, CONVERTING))
    )
    result = await session.execute(
        update(ConversionJob)
        .where(condition)
        .values(status=FAILED, problem=problem)
        .returning(ConversionJob)
    )
    job = result.scalar_one_or_none()
    if job is not None:
        await session.execute(delete(JobChunk).where(JobChunk.job_id == job_id))
    return job


async def unfinished_jobs(session: AsyncSession) -> list[uuid.UUID]:
    """Jobs not final yet, oldest first (the in-process mode's recovery at start)."""
    result = await session.execute(
        select(ConversionJob.id)
        .where(ConversionJob.status.in_((QUEUED, CONVERTING)))
        .order_by(ConversionJob.created_at)
    )
    return list(result.scalars())


async def job_counts(session: AsyncSession) -> dict[str, int]:
    """Jobs per status."""
    result = await session.execute(
        select(ConversionJob.status, func.count()).group_by(ConversionJob.status)
    )
    return {status: int(count) for status, count in result.all()}
