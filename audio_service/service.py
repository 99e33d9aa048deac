"""The audio service's logic: users, records and their MP3 bytes. Knows nothing of HTTP."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator

import anyio
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from audio_service import auth, repository, uploads
from audio_service.filenames import sanitize_filename
from audio_service.models import Record, User
from audio_service.runtime import AudioRuntime
from shared.db import Database
from shared.errors import Conflict, NotFound

log = logging.getLogger("audio.conversion")


class RecordVanished(Exception):
    """A record was deleted while it was being streamed; the response is cut short."""


async def create_user(
    session: AsyncSession, hasher: auth.TokenHasher, name: str
) -> tuple[User, str]:
    """The new user and their token, which exists in plain only in this return value."""
    token, token_hash = hasher.new_token()
    user = await repository.insert_user(session, name=name, token_hash=token_hash)
    if user is None:
        raise Conflict(f"The name {name!r} is taken.", name=name)
    return user, token


async def authenticate_briefly(
    database: Database, hasher: auth.TokenHasher, user_id: int, token: str | None
) -> User:
    """``auth.authenticate`` in a session of its own that ends before the caller goes on.

    Used before a conversion, which can take seconds: the request's own session then opens
    its connection only for the inserts, instead of holding one idle in a transaction.
    """
    async with database.sessionmaker() as session:
        return await auth.authenticate(session, hasher, user_id, token)


async def create_record(
    session: AsyncSession, runtime: AudioRuntime, *, user_id: int, upload: UploadFile
) -> Record:
    """Convert ``upload`` and store it; nothing is written unless the conversion succeeded.

    The request session commits the record row and its chunks together, or none of them.
    """
    chunk_bytes = runtime.settings.storage_chunk_bytes
    async with uploads.converted(runtime, upload) as converted:
        result = converted.result
        info = result.input
        record = Record(
            id=uuid.uuid4(),
            user_id=user_id,
            original_filename=sanitize_filename(upload.filename),
            input_size=converted.input_size,
            input_container=info.container,
            input_codec=info.codec,
            input_format_tag=info.format_tag,
            input_subformat_tag=info.subformat_tag,
            input_sample_rate=info.sample_rate,
            input_channels=info.channels,
            input_bit_depth=info.bit_depth,
            input_frames=info.frames,
            duration_s=result.duration_s,
            sample_rate=result.output_sample_rate,
            channels=result.output_channels,
            bitrate_kbps=result.bitrate_kbps,
            mp3_size=result.mp3_size,
            sha256=result.sha256,
            chunk_bytes=chunk_bytes,
        )
        started = time.perf_counter()
        await repository.add_record(session, record)
        stored = 0
        async with await anyio.open_file(converted.mp3_path, "rb") as mp3:
            seq = 0
            while data := await mp3.read(chunk_bytes):
                await repository.add_chunk(session, record.id, seq, data)
                stored += len(data)
                seq += 1
        if stored != result.mp3_size:
            raise RuntimeError(f"stored {stored} MP3 bytes, the encoder wrote {result.mp3_size}")
        store_s = time.perf_counter() - started

    log.info(
        "conversion",
        extra={
            "fields": {
                "record_id": str(record.id),
                "user_id": user_id,
                "input_container": info.container,
                "input_codec": info.codec,
                "input_format_tag": info.format_tag,
                "input_sample_rate": info.sample_rate,
                "input_channels": info.channels,
                "input_bit_depth": info.bit_depth,
                "duration_s": round(result.duration_s, 3),
                "input_bytes": converted.input_size,
                "mp3_bytes": result.mp3_size,
                "output_sample_rate": result.output_sample_rate,
                "output_channels": result.output_channels,
                "bitrate_kbps": result.bitrate_kbps,
                "queue_wait_s": round(converted.wait_s, 3),
                "convert_s": round(converted.convert_s, 3),
                "store_s": round(store_s, 3),
                "realtime_factor": round(result.duration_s / converted.convert_s, 1)
                if converted.convert_s > 0
                else None,
            }
        },
    )
    return record


async def get_record(session: AsyncSession, record_id: uuid.UUID, user_id: int) -> Record:
    """The record, if it belongs to ``user_id``: another user's id is the same 404."""
    record = await repository.get_record(session, record_id, user_id)
    if record is None:
        raise NotFound("No such record for this user.")
    return record


async def list_records(
    session: AsyncSession, user_id: int, *, limit: int, offset: int
) -> tuple[list[Record], int]:
    return await repository.list_records(session, user_id, limit=limit, offset=offset)


async def delete_record(session: AsyncSession, record_id: uuid.UUID, user_id: int) -> None:
    if not await repository.delete_record(session, record_id, user_id):
        raise NotFound("No such record for this user.")


async def stream_mp3(
    database: Database, record: Record, start: int, end: int
) -> AsyncIterator[bytes]:
    """Bytes ``start..end`` (inclusive) of the record's MP3, one stored chunk at a time.

    Each chunk is read in a short session of its own: a slow client must not keep a pooled
    connection (and a transaction) for the whole download.
    """
    size = record.chunk_bytes
    first, last = start // size, end // size
    for seq in range(first, last + 1):
        async with database.sessionmaker() as session:
            data = await repository.read_chunk(session, record.id, seq)
        if data is None:
            raise RecordVanished(f"record {record.id} lost chunk {seq} during a download")
        lo = start - seq * size if seq == first else 0
        hi = end - seq * size + 1 if seq == last else len(data)
        yield data if (lo, hi) == (0, len(data)) else data[lo:hi]
