"""``python -m audio_service storage migrate --to s3|postgres``: move existing records' bytes.

Record by record, oldest first, each one on its own:

1. copy the source bytes to a staging file, hashing them: a mismatch with ``records.sha256``
   stops that record (reported as corrupt, left where it is);
2. write them to the target (S3: a multipart upload; PostgreSQL: the chunks, in the
   transaction of step 4) and read them back from the target, hashing again;
3. only if that SHA-256 matches, in one transaction, point the row at the target
   (compare-and-set: still ready, still on the source) — and on PostgreSQL delete its chunks
   (to S3) or insert them (from S3) in that same transaction;
4. from S3, delete the source object afterwards.

The row's flip is the commit point, so the command is resumable and idempotent: kill it at
any moment and run it again, and it continues with the records still on the source; a
record copied but not flipped is copied again (same key: overwritten). What an interruption
can leave behind — an unfinished multipart upload, an object no row names — is the
sweeper's (``storage_sweep``). Live traffic may go on meanwhile: a record deleted while it
is moved fails the compare-and-set and its copy is discarded.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from audio_service import repository
from audio_service.models import Record
from audio_service.service import Storages
from audio_service.storage import Storage
from audio_service.storage_postgres import PostgresStorage
from audio_service.storage_s3 import S3Storage
from shared.db import Database

log = logging.getLogger("audio.storage.migrate")

_BATCH = 50


class Corrupt(Exception):
    """The bytes read do not have the record's SHA-256."""


@dataclass
class MigrateReport:
    target: str
    moved: int = 0
    changed: int = 0  # deleted or moved by someone else meanwhile
    corrupt: list[str] = field(default_factory=list)


def _copy_of(record: Record, storage: str, key: str | None) -> Record:
    """A detached stand-in of the record as it will be on the target."""
    columns = {column.key: getattr(record, column.key) for column in Record.__table__.columns}
    return Record(**(columns | {"storage": storage, "storage_key": key}))


async def _stage(source: Storage, record: Record, path: Path) -> None:
    digest = hashlib.sha256()
    async with await anyio.open_file(path, "wb") as staged:
        async for piece in source.read(record, 0, record.mp3_size - 1):
            digest.update(piece)
            await staged.write(piece)
    if digest.hexdigest() != record.sha256:
        raise Corrupt(f"record {record.id}: the source bytes do not match its SHA-256")


async def _to_s3(database: Database, record: Record, target: S3Storage, staged: Path) -> bool:
    copy = _copy_of(record, target.name, target.key_for(record))
    await target.put(copy, staged)
    if await target.sha256(copy) != record.sha256:
        await target.delete(copy)
        raise Corrupt(f"record {record.id}: the copy in the object store does not match")
    async with database.unit_of_work() as session:
        moved = await repository.move_record(
            session,
            record.id,
            source=record.storage,
            target=target.name,
            storage_key=copy.storage_key,
        )
        if moved:
            await repository.delete_chunks(session, record.id)
    if not moved:
        await target.delete(copy)
    return moved


async def _to_postgres(
    database: Database, record: Record, target: PostgresStorage, source: Storage, staged: Path
) -> bool:
    copy = _copy_of(record, target.name, None)
    async with database.unit_of_work() as session:
        await repository.delete_chunks(session, record.id)  # none, unless a run crashed oddly
        await target.write_in(session, copy, staged)
        digest = hashlib.sha256()
        window = target.window_chunks(copy) * copy.chunk_bytes
        for start in range(0, record.mp3_size, window):
            end = min(record.mp3_size, start + window) - 1
            for piece in await target.read_window(session, copy, start, end):
                digest.update(piece)
        if digest.hexdigest() != record.sha256:
            raise Corrupt(f"record {record.id}: the chunks written do not match")
        moved = await repository.move_record(
            session, record.id, source=record.storage, target=target.name, storage_key=None
        )
        if not moved:
            raise _Changed
    # After the commit: the row no longer names the object, so a failure here leaves an
    # orphan that the sweeper removes.
    await source.delete(record)
    return True


class _Changed(Exception):
    """Rolls back a copy whose record changed meanwhile."""


async def migrate(
    database: Database, storages: Storages, target_name: str, *, tmp_dir: str | None
) -> MigrateReport:
    target = storages.get(target_name)
    if target is None:
        raise ValueError(f"the {target_name} backend is not configured (see AUDIO_S3_*)")
    report = MigrateReport(target_name)
    after = None
    with tempfile.TemporaryDirectory(prefix="audio-migrate-", dir=tmp_dir) as scratch:
        staged = Path(scratch) / "record.mp3"
        while True:
            async with database.unit_of_work() as session:
                batch = await repository.records_to_migrate(
                    session, target_name, after=after, limit=_BATCH
                )
            if not batch:
                break
            for record in batch:
                after = (record.created_at, record.id)
                await _migrate_one(database, storages, record, target, staged, report)
    log.info("storage migration finished", extra={"fields": vars(report)})
    return report


async def _migrate_one(
    database: Database,
    storages: Storages,
    record: Record,
    target: Storage,
    staged: Path,
    report: MigrateReport,
) -> None:
    source = storages.of(record)
    try:
        await _stage(source, record, staged)
        if isinstance(target, S3Storage):
            moved = await _to_s3(database, record, target, staged)
        else:
            assert isinstance(target, PostgresStorage)
            moved = await _to_postgres(database, record, target, source, staged)
    except Corrupt as exc:
        report.corrupt.append(str(record.id))
        log.error("record not moved: %s", exc)
        return
    except _Changed:
        moved = False
    if moved:
        report.moved += 1
    else:
        report.changed += 1
    log.info(
        "record moved" if moved else "record changed meanwhile; skipped",
        extra={
            "fields": {
                "record_id": str(record.id),
                "from": record.storage,
                "to": target.name,
                "sha256_verified": moved,
                "bytes": record.mp3_size,
            }
        },
    )
