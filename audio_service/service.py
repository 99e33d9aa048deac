"""The audio service's logic: users, records and their MP3 bytes. Knows nothing of HTTP.

Every method is one or more units of work (``Database.unit_of_work``), each as short as it
can be: an upload authenticates in one, converts with no connection held (that can take
minutes), then stores the record and its chunks in another; a download reads each chunk in
one of its own, so a slow client never keeps a pooled connection.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import BinaryIO

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from audio_service import auth, repository
from audio_service.filenames import sanitize_filename
from audio_service.metrics import AudioMetrics
from audio_service.models import INPUT_FIELDS, Record, User
from audio_service.quota import Quota
from audio_service.settings import AudioSettings
from audio_service.uploads import ConvertedUpload, Converter
from shared.db import Database
from shared.errors import Conflict, NotFound, QuotaExceeded

log = logging.getLogger("audio.conversion")


class RecordVanished(Exception):
    """A record was deleted while it was being streamed; the stream cannot be finished."""


class AudioService:
    def __init__(
        self,
        database: Database,
        settings: AudioSettings,
        hasher: auth.TokenHasher,
        converter: Converter,
        metrics: AudioMetrics,
    ) -> None:
        self._database = database
        self._settings = settings
        self._hasher = hasher
        self._converter = converter
        self._metrics = metrics
        self._quota = Quota(settings.user_quota_bytes, settings.user_max_records)

    async def create_user(self, name: str) -> tuple[User, str]:
        """The new user and their token, which exists in plain only in this return value."""
        token, token_hash = self._hasher.new_token()
        async with self._database.unit_of_work() as session:
            user = await repository.insert_user(session, name=name, token_hash=token_hash)
        if user is None:
            raise Conflict(f"The name {name!r} is taken.", name=name)
        return user, token

    async def create_record(
        self,
        *,
        user_id: int,
        token: str | None,
        file: BinaryIO,
        filename: str | None,
        cancel: threading.Event | None = None,
    ) -> Record:
        """Authenticate, convert ``file``, store it; nothing is written unless all succeeded.

        The record row and its chunks are committed together, or none of them. The user's
        quota is checked before the conversion and again, under a lock of the user's row,
        where the record is stored (``audio_service.quota``). ``cancel`` set (the client
        went away) stops the conversion.
        """
        async with self._database.unit_of_work() as session:
            await auth.authenticate(session, self._hasher, user_id, token)
            await self._check_quota(session, user_id, adding_bytes=1)
        chunk_bytes = self._settings.storage_chunk_bytes
        async with self._converter.converted(file, cancel, user_id=user_id) as converted:
            record = _record(converted, user_id, sanitize_filename(filename), chunk_bytes)
            started = time.perf_counter()
            async with self._database.unit_of_work() as session:
                await self._check_quota(session, user_id, adding_bytes=record.mp3_size, lock=True)
                await repository.add_record(session, record)
                stored = 0
                async with await anyio.open_file(converted.mp3_path, "rb") as mp3:
                    seq = 0
                    while data := await mp3.read(chunk_bytes):
                        await repository.add_chunk(session, record.id, seq, data)
                        stored += len(data)
                        seq += 1
                if stored != record.mp3_size:
                    raise RuntimeError(
                        f"stored {stored} MP3 bytes, the encoder wrote {record.mp3_size}"
                    )
            _log_conversion(record, converted, store_s=time.perf_counter() - started)
            self._metrics.stored(record.mp3_size)
        return record

    async def _check_quota(
        self, session: AsyncSession, user_id: int, *, adding_bytes: int, lock: bool = False
    ) -> None:
        if self._quota.unlimited:
            return
        if lock and not await repository.lock_user(session, user_id):
            raise auth.unauthorized()  # the user was deleted meanwhile
        try:
            self._quota.check(await repository.usage(session, user_id), adding_bytes)
        except QuotaExceeded as exc:
            self._metrics.reject(f"quota_{exc.extra['quota']}")
            raise

    async def get_record(self, record_id: uuid.UUID, user_id: int) -> Record:
        """The record, if it belongs to ``user_id``: another user's id is the same 404."""
        async with self._database.unit_of_work() as session:
            record = await repository.get_record(session, record_id, user_id)
        if record is None:
            raise NotFound("No such record for this user.")
        return record

    async def list_records(
        self, user_id: int, token: str | None, *, limit: int, offset: int
    ) -> tuple[list[Record], int]:
        """A page of the user's records, newest first, and how many they have in all."""
        async with self._database.unit_of_work() as session:
            await auth.authenticate(session, self._hasher, user_id, token)
            return await repository.list_records(session, user_id, limit=limit, offset=offset)

    async def delete_record(self, record_id: uuid.UUID, user_id: int, token: str | None) -> None:
        async with self._database.unit_of_work() as session:
            await auth.authenticate(session, self._hasher, user_id, token)
            if not await repository.delete_record(session, record_id, user_id):
                raise NotFound("No such record for this user.")

    async def read_mp3(self, record: Record, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start..end`` (inclusive) of the record's MP3, one stored chunk at a time.

        Each chunk is read in a unit of work of its own: a slow client must not keep a pooled
        connection (and a transaction) for the whole download. ``RecordVanished`` when the
        record was deleted meanwhile.
        """
        size = record.chunk_bytes
        first, last = start // size, end // size
        for seq in range(first, last + 1):
            async with self._database.unit_of_work() as session:
                data = await repository.read_chunk(session, record.id, seq)
            if data is None:
                raise RecordVanished(f"record {record.id} lost chunk {seq} during a download")
            lo = start - seq * size if seq == first else 0
            hi = end - seq * size + 1 if seq == last else len(data)
            yield data if (lo, hi) == (0, len(data)) else data[lo:hi]


def _record(
    converted: ConvertedUpload, user_id: int, filename: str | None, chunk_bytes: int
) -> Record:
    result = converted.result
    return Record(
        id=uuid.uuid4(),
        user_id=user_id,
        original_filename=filename,
        input_size=converted.input_size,
        **{f"input_{name}": getattr(result.input, name) for name in INPUT_FIELDS},
        duration_s=result.duration_s,
        sample_rate=result.output_sample_rate,
        channels=result.output_channels,
        bitrate_kbps=result.bitrate_kbps,
        mp3_size=result.mp3_size,
        sha256=result.sha256,
        chunk_bytes=chunk_bytes,
    )


def _log_conversion(record: Record, converted: ConvertedUpload, *, store_s: float) -> None:
    convert_s = converted.convert_s
    log.info(
        "conversion",
        extra={
            "fields": {
                "record_id": str(record.id),
                "user_id": record.user_id,
                **{f"input_{name}": getattr(record, f"input_{name}") for name in INPUT_FIELDS},
                "duration_s": round(record.duration_s, 3),
                "input_bytes": converted.input_size,
                "mp3_bytes": record.mp3_size,
                "output_sample_rate": record.sample_rate,
                "output_channels": record.channels,
                "bitrate_kbps": record.bitrate_kbps,
                "queue_wait_s": round(converted.wait_s, 3),
                "convert_s": round(convert_s, 3),
                "store_s": round(store_s, 3),
                "realtime_factor": round(record.duration_s / convert_s, 1)
                if convert_s > 0
                else None,
            }
        },
    )
