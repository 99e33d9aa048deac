"""Conversion jobs: uploads converted by a worker while the client polls (or is called back).

Accepting (the API): the upload is authorised and copied into the staging directory as for a
conversion in the request; then, if the client asked (``Prefer: respond-async``) or the audio
lasts longer than ``AUDIO_SYNC_MAX_DURATION_S``, one transaction inserts the job row, its WAV
as ``job_chunks`` rows and its queue entry (``job_queue``): the job exists, queued, and its
bytes are in the database every worker reaches, or none of it does. No shared disk.

Converting (a worker): ``run`` claims the job (``queued``/``converting`` -> ``converting``,
one more attempt), copies the staged WAV into its own staging directory, converts it and
stores the record exactly as an upload does, with one difference: the transaction that makes
the record visible also turns the job ``done`` — only if this attempt still holds the job.

Exactly one record per job, whatever dies when:

- each attempt stores its record under its own id (``uuid5(job id, attempt)``); only the
  attempt that flips the job to ``done`` makes its record visible, in the same transaction,
  and every other attempt's record is undone (``Superseded``) or, if its worker died, is a
  pending row that the storage sweeper removes;
- a worker SIGKILLed mid-conversion leaves the job ``converting``; the queue engine sees the
  worker's heartbeat stop and gives the job to another worker, which claims it again;
- a job whose conversions keep dying (``AUDIO_JOB_MAX_ATTEMPTS``) or that hits a transient
  fault that many times ends ``failed``; a WAV that cannot be converted fails at once. Either
  way with an RFC 9457 problem in the job, never stuck.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from audio_service import auth, repository
from audio_service.callback_urls import check_callback_url
from audio_service.conversion import ConversionCancelled
from audio_service.filenames import sanitize_filename
from audio_service.job_queue import CALLBACK, CONVERT, JobQueue
from audio_service.metrics import AudioMetrics
from audio_service.models import QUEUED, ConversionJob, Record
from audio_service.service import AudioService, Superseded
from audio_service.settings import AudioSettings
from audio_service.uploads import Converter, ReceivedWav
from audio_service.wav_probe import probe_wav
from shared.db import Database
from shared.errors import AppError, NotFound, Unauthorized

__all__ = ["Accepted", "ConversionJob", "JobService", "problem_of", "record_id_of"]

log = logging.getLogger("audio.jobs")

_NO_SUCH_JOB = "No such job for this user."
PROGRESS_INTERVAL_S = 0.5
JOB_NAMESPACE = uuid.UUID("5d1c3f7e-8a4b-4c2d-9e6f-0a1b2c3d4e5f")


def record_id_of(job_id: uuid.UUID, attempt: int) -> uuid.UUID:
    """The id attempt ``attempt`` of a job stores its record under."""
    return uuid.uuid5(JOB_NAMESPACE, f"{job_id}/{attempt}")


def problem_of(exc: AppError) -> dict[str, Any]:
    """The RFC 9457 problem a failed job reports (the request-bound members left out)."""
    problem = exc.problem
    return {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": exc.detail,
        **exc.extra,
    }


class ConversionGaveUp(AppError):
    """A job failed for faults of ours, not of its WAV (a 500 problem in the job)."""


def _gave_up(attempts: int, reason: str) -> dict[str, Any]:
    return problem_of(
        ConversionGaveUp(
            f"The conversion was attempted {attempts} times and did not finish ({reason}).",
            code="conversion_gave_up",
            attempts=attempts,
        )
    )


@dataclass(frozen=True, slots=True)
class Accepted:
    """An upload the service will convert in a job."""

    job: ConversionJob
    preference_applied: bool  # the client asked for it (rather than its length decided)


class JobService:
    def __init__(
        self,
        database: Database,
        settings: AudioSettings,
        hasher: auth.TokenHasher,
        converter: Converter,
        audio: AudioService,
        queue: JobQueue,
        metrics: AudioMetrics,
    ) -> None:
        self._database = database
        self._settings = settings
        self._hasher = hasher
        self._converter = converter
        self._audio = audio
        self._queue = queue
        self._metrics = metrics

    # --- the API ------------------------------------------------------------------------------

    async def upload(
        self,
        *,
        user_id: int,
        token: str | None,
        file: BinaryIO,
        filename: str | None,
        respond_async: bool,
        base_url: str,
        title: str | None = None,
        artist: str | None = None,
        callback_url: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Record | Accepted:
        """The record, converted in this request; or the job that will convert it (asked
        for, a callback wanted, or a long upload). ``base_url``: of the links it will hold."""
        if callback_url is not None:
            callback_url = check_callback_url(callback_url, self._settings)
        await self._audio.authorize_upload(user_id, token)
        with self._converter.user_slot(user_id):
            async with self._converter.received(file) as wav:
                if await self._goes_to_a_job(wav, respond_async or callback_url is not None):
                    job = await self._accept(
                        user_id, wav, filename, base_url, callback_url, title, artist
                    )
                    return Accepted(job, preference_applied=respond_async)
                return await self._audio.create_record(
                    user_id=user_id,
                    wav=wav,
                    filename=filename,
                    title=title,
                    artist=artist,
                    cancel=cancel,
                )

    async def _goes_to_a_job(self, wav: ReceivedWav, respond_async: bool) -> bool:
        """Whether the upload is converted by a worker: asked for, or longer than
        AUDIO_SYNC_MAX_DURATION_S. A job's WAV is probed first, so what the conversion would
        refuse (415, 422) is refused at once rather than by a failed job later."""
        limit = self._settings.sync_max_duration_s
        if not respond_async and limit is None:
            return False
        try:
            info = await anyio.to_thread.run_sync(
                partial(probe_wav, wav.path, max_duration_s=self._settings.max_duration_s)
            )
        except AppError as exc:
            if not respond_async:
                return False  # the conversion in the request refuses it, as ever
            self._converter.note_refusal(exc, wav.size)
            raise
        return respond_async or (limit is not None and info.duration_s > limit)

    async def _accept(
        self,
        user_id: int,
        wav: ReceivedWav,
        filename: str | None,
        base_url: str,
        callback_url: str | None,
        title: str | None,
        artist: str | None,
    ) -> ConversionJob:
        chunk_bytes = self._settings.storage_chunk_bytes
        job = ConversionJob(
            id=uuid.uuid4(),
            user_id=user_id,
            status=QUEUED,
            progress=0.0,
            original_filename=sanitize_filename(filename),
            title=title,
            artist=artist,
            input_size=wav.size,
            chunk_bytes=chunk_bytes,
            attempts=0,
            base_url=base_url,
            callback_url=callback_url,
        )
        async with self._database.unit_of_work() as session:
            await repository.add_job(session, job)
            await _stage(session, job, wav.path)
            await self._queue.enqueue(session, CONVERT, job.id)
        self._queue.committed(CONVERT, job.id)
        self._metrics.job_queued()
        log.info(
            "conversion job queued",
            extra={"fields": {"job_id": str(job.id), "user_id": user_id, "input_bytes": wav.size}},
        )
        return job

    async def get(self, job_id: uuid.UUID, token: str | None) -> ConversionJob:
        """The job if ``token`` is its owner's; another user's job is a 404 like a missing one."""
        if auth.canonical_token(token) is None:
            raise auth.unauthorized()
        async with self._database.unit_of_work() as session:
            job = await repository.get_job(session, job_id)
            if job is None:
                raise NotFound(_NO_SUCH_JOB)
            try:
                await auth.authenticate(session, self._hasher, job.user_id, token)
            except Unauthorized:
                raise NotFound(_NO_SUCH_JOB) from None
        return job

    # --- the workers --------------------------------------------------------------------------

    async def run(self, job_id: uuid.UUID, cancel: threading.Event | None = None) -> bool:
        """Converts the job; True when it is final now (done, failed, or not this worker's
        to do), False when a transient fault calls for a retry later. ``cancel`` set stops
        the conversion (``ConversionCancelled``) and leaves the job for a later attempt."""
        try:
            async with self._database.unit_of_work() as session:
                job = await repository.claim_job(session, job_id)
        except AppError as exc:
            log.warning("could not claim a job: %s", exc.detail)
            return False
        if job is None:
            return True  # final already (a duplicate delivery), or gone with its user
        attempt = job.attempts
        if attempt > self._settings.job_max_attempts:
            # The earlier attempts all died without finishing (their worker was killed).
            return await self._fail(job, None, _gave_up(attempt - 1, "its workers stopped"))
        fetch = partial(_fetch_staged, self._database, job)
        try:
            async with (
                self._progress(job.id, attempt) as progress,
                self._converter.staged(fetch) as wav,
            ):
                record = await self._audio.create_record(
                    user_id=job.user_id,
                    wav=wav,
                    cancel=cancel,
                    filename=job.original_filename,
                    title=job.title,
                    artist=job.artist,
                    progress=progress,
                    record_id=record_id_of(job.id, attempt),
                    finish=partial(self._finish, job=job, attempt=attempt),
                    admit=False,
                )
        except Superseded:
            return True  # another attempt holds the job
        except ConversionCancelled:
            raise  # this process is stopping: the job stays converting, for the next attempt
        except AppError as exc:
            if exc.status < 500:  # the WAV (or the quota) says no: retrying cannot help
                return await self._fail(job, attempt, problem_of(exc))
            return await self._transient(job, attempt, exc.detail)
        except Exception as exc:
            # Any other fault is retried, then fails the job: it never stays converting.
            log.exception(
                "conversion job attempt crashed", extra={"fields": {"job_id": str(job.id)}}
            )
            return await self._transient(job, attempt, f"{type(exc).__name__}: {exc}")
        self._called_back(job)
        self._metrics.job_finished("done")
        log.info(
            "conversion job done",
            extra={"fields": {"job_id": str(job.id), "record_id": str(record.id)}},
        )
        return True

    async def _transient(self, job: ConversionJob, attempt: int, reason: str) -> bool:
        log.warning(
            "conversion job attempt failed",
            extra={"fields": {"job_id": str(job.id), "attempt": attempt, "reason": reason}},
        )
        if attempt < self._settings.job_max_attempts:
            return False
        return await self._fail(job, attempt, _gave_up(attempt, reason))

    async def _fail(self, job: ConversionJob, attempt: int | None, problem: dict[str, Any]) -> bool:
        try:
            async with self._database.unit_of_work() as session:
                failed = await repository.fail_job(session, job.id, attempt, problem)
                if failed is not None and job.callback_url is not None:
                    await self._queue.enqueue(session, CALLBACK, job.id)
        except AppError:
            return False  # the database is away: the next attempt records the failure
        if failed is not None:
            self._called_back(job)
            self._metrics.job_finished("failed")
            log.info(
                "conversion job failed",
                extra={"fields": {"job_id": str(job.id), "problem": problem}},
            )
        return True

    async def _finish(self, session: AsyncSession, *, job: ConversionJob, attempt: int) -> bool:
        """In the transaction that makes the record visible: the job done, by this attempt
        only, and its callback queued."""
        if not await repository.finish_job(session, job.id, attempt, record_id_of(job.id, attempt)):
            return False
        if job.callback_url is not None:
            await self._queue.enqueue(session, CALLBACK, job.id)
        return True

    def _called_back(self, job: ConversionJob) -> None:
        if job.callback_url is not None:
            self._queue.committed(CALLBACK, job.id)

    @asynccontextmanager
    async def _progress(
        self, job_id: uuid.UUID, attempt: int
    ) -> AsyncIterator[Callable[[float], None]]:
        """A callback for the conversion's thread, whose latest value is written to the job
        every ``PROGRESS_INTERVAL_S`` (a write per block would cost a transaction per block)."""
        latest = [0.0]

        def report(share: float) -> None:
            latest[0] = share

        async def write() -> None:
            written = 0.0
            while True:
                await asyncio.sleep(PROGRESS_INTERVAL_S)
                if latest[0] != written:
                    written = latest[0]
                    try:
                        async with self._database.unit_of_work() as session:
                            await repository.set_job_progress(
                                session, job_id, attempt, round(written, 3)
                            )
                    except AppError:
                        pass  # progress is a hint; the next write catches up

        writer = asyncio.create_task(write())
        try:
            yield report
        finally:
            writer.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(writer, return_exceptions=True)


# Chunks a worker reads per transaction while fetching a staged WAV.
_FETCH_CHUNKS = 16


async def _stage(session: AsyncSession, job: ConversionJob, wav_path: Path) -> None:
    """The WAV as ``job_chunks`` rows in the caller's transaction, one chunk in memory."""
    async with await anyio.open_file(wav_path, "rb") as wav:
        seq = 0
        while data := await wav.read(job.chunk_bytes):
            await repository.add_job_chunk(session, job.id, seq, data)
            seq += 1


async def _fetch_staged(database: Database, job: ConversionJob, dst: Path) -> int:
    """Writes the job's staged WAV into ``dst``, a few chunks per transaction; its size."""
    chunks = -(-job.input_size // job.chunk_bytes)
    written = 0
    async with await anyio.open_file(dst, "xb") as out:
        for first in range(0, chunks, _FETCH_CHUNKS):
            last = min(chunks, first + _FETCH_CHUNKS) - 1
            async with database.unit_of_work() as session:
                pieces = await repository.read_job_chunks(session, job.id, first, last)
            if len(pieces) != last - first + 1:
                raise RuntimeError(f"job {job.id} lost staged chunks {first}..{last}")
            for piece in pieces:
                await out.write(piece)
                written += len(piece)
    if written != job.input_size:
        raise RuntimeError(f"job {job.id}: staged {written} bytes of {job.input_size}")
    return written
