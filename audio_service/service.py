"""The audio service's logic: users, records and their MP3 bytes. Knows nothing of HTTP.

Every method is one or more units of work (``Database.unit_of_work``), each as short as it
can be: an upload authenticates in one, converts with no connection held (that can take
minutes), then stores the record (``_store``: a pending row, the bytes, the flip to ready);
a download reads the record, and on PostgreSQL the bytes too when they fit one window, in
one unit of work, and otherwise one window per unit of work, so a slow client never keeps a
pooled connection. The bytes go through ``audio_service.storage``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from audio_service import auth, repository
from audio_service.filenames import sanitize_filename
from audio_service.metrics import AudioMetrics
from audio_service.models import INPUT_FIELDS, PENDING, READY, Record, User
from audio_service.mp3_tags import Mp3Tags, title_from_filename
from audio_service.peaks import Peaks
from audio_service.quota import Quota
from audio_service.ranges import ByteRange
from audio_service.settings import AudioSettings
from audio_service.storage import RecordVanished, Storage, StorageUnavailable
from audio_service.storage_postgres import PostgresStorage
from audio_service.uploads import ConvertedUpload, Converter, ReceivedWav
from shared.db import Database
from shared.errors import AppError, Conflict, NotFound, QuotaExceeded

log = logging.getLogger("audio.conversion")
storage_log = logging.getLogger("audio.storage")

_NO_SUCH_RECORD = "No such record for this user."

Finish = Callable[[AsyncSession], Awaitable[bool]]
"""Runs in the transaction that makes a new record visible; False undoes the record."""


class Superseded(Exception):
    """A job's record was stored after another attempt of the job took it over: undone."""


class WantsBytes(Protocol):
    """What a download asks of a record: which bytes to send (None: none, e.g. HEAD, 304)."""

    @property
    def body_range(self) -> ByteRange | None: ...


P = TypeVar("P", bound=WantsBytes)


@dataclass(frozen=True, slots=True)
class Download(Generic[P]):
    """A download the service has authorised: the record, the caller's plan for it, and
    where its bytes come from — ``body`` through this process, or ``url`` (a presigned URL
    of the object store) without it; both None when the plan sends no bytes."""

    record: Record
    plan: P
    body: AsyncIterator[bytes] | None = None
    url: str | None = None


class Storages:
    """The storage backends this process can reach, by ``records.storage``: PostgreSQL
    always, S3 when configured; ``for_new`` is the one new records go to."""

    def __init__(self, postgres: PostgresStorage, others: Mapping[str, Storage], new: str) -> None:
        self.postgres = postgres
        self._all: dict[str, Storage] = {postgres.name: postgres, **others}
        if new not in self._all:
            raise ValueError(f"storage backend {new!r} is not configured")
        self.for_new = self._all[new]

    def of(self, record: Record) -> Storage:
        storage = self._all.get(record.storage)
        if storage is None:
            storage_log.error(
                "a record is stored on a backend this instance is not configured for",
                extra={"fields": {"record_id": str(record.id), "storage": record.storage}},
            )
            raise StorageUnavailable()
        return storage

    def get(self, name: str) -> Storage | None:
        return self._all.get(name)


class AudioService:
    def __init__(
        self,
        database: Database,
        settings: AudioSettings,
        hasher: auth.TokenHasher,
        converter: Converter,
        storages: Storages,
        metrics: AudioMetrics,
    ) -> None:
        self._database = database
        self._settings = settings
        self._hasher = hasher
        self._converter = converter
        self._storages = storages
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

    async def authorize_upload(self, user_id: int, token: str | None) -> None:
        """Authenticates the uploader and checks their quota has room for one more record."""
        async with self._database.unit_of_work() as session:
            await auth.authenticate(session, self._hasher, user_id, token)
            await self._check_quota(session, user_id, adding_bytes=1)

    async def create_record(
        self,
        *,
        user_id: int,
        wav: ReceivedWav,
        filename: str | None,
        title: str | None = None,
        artist: str | None = None,
        cancel: threading.Event | None = None,
        progress: Callable[[float], None] | None = None,
        record_id: uuid.UUID | None = None,
        finish: Finish | None = None,
        admit: bool = True,
    ) -> Record:
        """Converts the staged ``wav`` of an authorised upload and stores the record; nothing
        is written unless all succeeded.

        The MP3's ID3 tag carries ``title`` (default: the file's name without extension),
        ``artist``, the record's id and creation time, so both are chosen before converting.

        The record row and its bytes are committed together, or none of them. The user's
        quota is checked again, under a lock of the user's row, where the record is stored
        (``audio_service.quota``). ``cancel`` set (the client went away) stops the
        conversion. A job's worker passes its attempt's ``record_id`` (the one that becomes
        visible, so the one in the tag), and ``finish``, which runs in the transaction that
        makes the record visible (``store_record``).
        """
        chunk_bytes = self._settings.storage_chunk_bytes
        record_id, created_at = record_id or uuid.uuid4(), datetime.now(UTC)
        filename = sanitize_filename(filename)
        tags = Mp3Tags(
            title=title or title_from_filename(filename),
            artist=artist,
            record_id=str(record_id),
            created_at=created_at,
        )
        async with self._converter.converted_wav(
            wav, cancel, progress, tags=tags, admit=admit
        ) as converted:
            record = _record(converted, record_id, created_at, user_id, filename, chunk_bytes)
            started = time.perf_counter()
            await self.store_record(record, converted.mp3_path, converted.result.peaks, finish)
            _log_conversion(record, converted, store_s=time.perf_counter() - started)
            self._metrics.stored(record.mp3_size)
        return record

    async def store_record(
        self, record: Record, mp3_path: Path, peaks: Peaks | None, finish: Finish | None = None
    ) -> None:
        """Pending row (naming the key), bytes, then the flip to ready: the record is
        visible only once both exist. On any failure the bytes and the row are removed at
        once where possible; what cannot be (the store or the database is down, the
        process dies) the sweeper removes later, as the pending row still names it.
        ``finish(session)`` runs in the flip's transaction; False from it undoes the record
        (``Superseded``)."""
        storage = self._storages.for_new
        record.storage = storage.name
        record.storage_key = storage.key_for(record)
        async with self._database.unit_of_work() as session:
            # The quota again, with the real size, under a lock of the user's row: two
            # uploads cannot both pass the last free byte (pending rows count as used).
            await self._check_quota(
                session, record.user_id, adding_bytes=record.mp3_size, lock=True
            )
            await repository.add_record(session, record)
            if peaks is not None:
                await repository.add_peaks(session, record.id, peaks.to_bytes())
        try:
            await storage.put(record, mp3_path)
            async with self._database.unit_of_work() as session:
                if not await repository.mark_ready(session, record.id):
                    raise RuntimeError(
                        f"record {record.id} stopped being pending during its upload"
                    )
                if finish is not None and not await finish(session):
                    raise Superseded(f"record {record.id} is no longer wanted")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._discard(record, storage)
            raise
        record.state = READY

    async def _discard(self, record: Record, storage: Storage) -> bool:
        """Removes the record's bytes, then its row; False (logged) when the store or the
        database is unavailable, and the sweeper will finish."""
        try:
            await storage.delete(record)
            async with self._database.unit_of_work() as session:
                await repository.delete_record_row(session, record.id)
        except (AppError, OSError) as exc:
            storage_log.warning(
                "record left for the storage sweeper",
                extra={"fields": {"record_id": str(record.id), "reason": str(exc)}},
            )
            return False
        return True

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
            raise NotFound(_NO_SUCH_RECORD)
        return record

    async def get_peaks(self, record_id: uuid.UUID, user_id: int) -> tuple[Record, Peaks]:
        """The record, if it belongs to ``user_id``, and its waveform peaks (404 without)."""
        async with self._database.unit_of_work() as session:
            found = await repository.get_record_peaks(session, record_id, user_id)
        if found is None:
            raise NotFound(_NO_SUCH_RECORD)
        record, blob = found
        if blob is None:
            raise NotFound("This record has no waveform peaks (converted before they were kept).")
        return record, Peaks.from_bytes(blob)

    async def open_download(
        self, record_id: uuid.UUID, user_id: int, plan: Callable[[Record], P]
    ) -> Download[P]:
        """The record if it belongs to ``user_id`` (else 404), ``plan(record)`` (which may
        raise, e.g. a 416), and the bytes the plan asks for.

        On PostgreSQL, bytes that fit one window (``AUDIO_DOWNLOAD_WINDOW_BYTES``) are read
        in the same unit of work as the record, in one query, so such a download is one
        transaction and never holds a connection while the client reads; larger ones are
        read a window per unit of work as the client takes them. Elsewhere the download
        gets the object's URL (the bytes need not pass through this process).
        """
        postgres = self._storages.postgres
        prefetched: list[bytes] | None = None
        async with self._database.unit_of_work() as session:
            record = await repository.get_record(session, record_id, user_id)
            if record is None:
                raise NotFound(_NO_SUCH_RECORD)
            chosen = plan(record)
            wanted = chosen.body_range
            if (
                wanted is not None
                and record.storage == postgres.name
                and postgres.fits_one_window(record, wanted.start, wanted.end)
            ):
                try:
                    prefetched = await postgres.read_window(
                        session, record, wanted.start, wanted.end
                    )
                except RecordVanished:
                    raise NotFound(_NO_SUCH_RECORD) from None  # deleted since the first query
        if wanted is None:
            return Download(record, chosen)
        if prefetched is not None:
            return Download(record, chosen, body=_pieces(prefetched))
        storage = self._storages.of(record)
        url = await storage.locate(record)
        if url is not None:
            return Download(record, chosen, url=url)
        return Download(record, chosen, body=storage.read(record, wanted.start, wanted.end))

    async def presigned_url(self, record: Record, response_headers: Mapping[str, str]) -> str:
        """A URL the client itself may fetch the record's bytes from, answered with
        ``response_headers``; 503 when its backend has none (PostgreSQL)."""
        url = await self._storages.of(record).locate(record, response_headers)
        if url is None:
            raise StorageUnavailable("This record can only be downloaded through the service.")
        return url

    async def list_records(
        self, user_id: int, token: str | None, *, limit: int, offset: int
    ) -> tuple[list[Record], int]:
        """A page of the user's records, newest first, and how many they have in all."""
        async with self._database.unit_of_work() as session:
            await auth.authenticate(session, self._hasher, user_id, token)
            return await repository.list_records(session, user_id, limit=limit, offset=offset)

    async def delete_record(self, record_id: uuid.UUID, user_id: int, token: str | None) -> None:
        """Invisible at once (the row turns ``deleting`` in the authenticating unit of
        work), then the bytes and the row go; if the store is down meanwhile, the 204
        stands and the sweeper removes them when it is back."""
        async with self._database.unit_of_work() as session:
            await auth.authenticate(session, self._hasher, user_id, token)
            record = await repository.mark_deleting(session, record_id, user_id)
        await self._finish_delete(record)

    async def delete_record_as_operator(self, record_id: uuid.UUID) -> None:
        """The admin's delete: no user token, otherwise the owner's delete, rules and all."""
        async with self._database.unit_of_work() as session:
            owner = await repository.record_owner(session, record_id)
            record = (
                None if owner is None else await repository.mark_deleting(session, record_id, owner)
            )
        await self._finish_delete(record)

    async def _finish_delete(self, record: Record | None) -> None:
        """The one way a record's bytes and row go, for its owner's delete and an operator's."""
        if record is None:
            raise NotFound(_NO_SUCH_RECORD)
        with anyio.CancelScope(shield=True):
            await self._discard(record, self._storages.of(record))


async def _pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def _record(
    converted: ConvertedUpload,
    record_id: uuid.UUID,
    created_at: datetime,
    user_id: int,
    filename: str | None,
    chunk_bytes: int,
) -> Record:
    result = converted.result
    loudness, normalization = result.loudness, result.normalization
    return Record(
        id=record_id,
        created_at=created_at,
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
        mp3_mode=result.mode,
        vbr_quality=result.vbr_quality,
        mean_bitrate_kbps=result.mean_bitrate_kbps,
        integrated_lufs=_rounded(loudness.integrated_lufs if loudness else None),
        loudness_range_lu=_rounded(loudness.range_lu if loudness else None),
        true_peak_dbtp=_rounded(loudness.true_peak_dbtp if loudness else None),
        normalization_target_lufs=normalization.target_lufs if normalization else None,
        normalization_gain_db=_rounded(normalization.gain_db) if normalization else None,
        normalization_limited=normalization.limited_by_true_peak if normalization else None,
        chunk_bytes=chunk_bytes,
        state=PENDING,
    )


def _rounded(value: float | None) -> float | None:
    # Hundredths of a dB: finer than any meter agrees with another.
    return None if value is None else round(value, 2)


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
                "mp3_mode": record.mp3_mode,
                "integrated_lufs": record.integrated_lufs,
                "normalization_gain_db": record.normalization_gain_db,
                "queue_wait_s": round(converted.wait_s, 3),
                "convert_s": round(convert_s, 3),
                "store_s": round(store_s, 3),
                "realtime_factor": round(record.duration_s / convert_s, 1)
                if convert_s > 0
                else None,
            }
        },
    )
