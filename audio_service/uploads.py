"""From an uploaded file to a converted MP3 on disk, off the event loop, leaving nothing behind.

The multipart parser has already spooled the file (Starlette keeps it in memory up to 1 MiB,
on disk above). It is copied in blocks into a file of ours under a random name, counting
bytes against ``AUDIO_MAX_UPLOAD_BYTES``; the conversion reads that file and writes the MP3
next to it. Both files are removed whatever happens, and the caller stores the MP3 while
they exist. Everything the WAV itself must satisfy is ``wav_probe``'s to check.

Admission: at most ``AUDIO_CONVERSION_WORKERS`` conversions run at once and at most
``AUDIO_MAX_QUEUED_CONVERSIONS`` uploads wait for one of those slots; one more is refused
at once (503 with Retry-After) instead of making the queue, and the disk holding its
staged files, grow without bound. One user may have at most ``AUDIO_MAX_UPLOADS_PER_USER``
uploads in progress in this process (429 with Retry-After above).

Cancellation: the caller's ``cancel`` event (set when the client disconnects) stops a
conversion between two blocks of audio; the worker thread then raises
``ConversionCancelled`` and nothing is kept.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import anyio

from audio_service.conversion import ConversionCancelled, ConversionResult, convert_wav_to_mp3
from audio_service.metrics import AudioMetrics
from audio_service.mp3_tags import Mp3Tags
from audio_service.settings import AudioSettings
from shared.body_limit import file_too_large
from shared.errors import AppError, ServiceUnavailable, TooManyRequests

log = logging.getLogger("audio.conversion")

COPY_BLOCK_BYTES = 1024 * 1024
RETRY_AFTER_MAX_S = 300
# Until the first conversion has been timed, a slot is taken to free up within this.
FIRST_ESTIMATE_S = 1.0
ESTIMATE_WEIGHT = 0.2


@dataclass(frozen=True, slots=True)
class ReceivedWav:
    """An uploaded WAV, copied into the staging directory."""

    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class ConvertedUpload:
    mp3_path: Path
    input_size: int
    result: ConversionResult
    wait_s: float  # queued for a conversion slot
    convert_s: float


def copy_limited(src: BinaryIO, dst: Path, limit: int) -> int:
    """Copy ``src`` into the new file ``dst`` block by block; 413 once past ``limit`` bytes."""
    copied = 0
    with dst.open("xb") as out:
        while block := src.read(COPY_BLOCK_BYTES):
            copied += len(block)
            if copied > limit:
                raise file_too_large(limit)
            out.write(block)
    return copied


class Converter:
    """Converts uploads in worker threads, at most ``AUDIO_CONVERSION_WORKERS`` at once.

    Conversions are CPU-bound and release the GIL: one slot per core keeps every core busy
    without letting a burst of uploads thrash them; the rest wait their turn, up to
    ``AUDIO_MAX_QUEUED_CONVERSIONS`` of them.
    """

    def __init__(self, settings: AudioSettings, staging_dir: Path, metrics: AudioMetrics) -> None:
        self._settings = settings
        self._staging_dir = staging_dir
        self._metrics = metrics
        self._slots = anyio.CapacityLimiter(settings.conversion_workers)
        self._waiting = 0
        self._typical_convert_s = FIRST_ESTIMATE_S
        self._uploads_of: Counter[int] = Counter()

    def retry_after_s(self) -> int:
        """When a slot is likely to be free for one more upload: the queue ahead of it, at
        the recent conversion time, over the slots."""
        ahead = self._waiting + 1
        estimate = self._typical_convert_s * ahead / self._settings.conversion_workers
        return max(1, min(RETRY_AFTER_MAX_S, math.ceil(estimate)))

    @contextmanager
    def user_slot(self, user_id: int) -> Iterator[None]:
        """Counts one upload of ``user_id`` in progress; 429 when they have the most allowed."""
        cap = self._settings.max_uploads_per_user
        busy = self._uploads_of[user_id]
        if busy >= cap:
            self._metrics.reject("user_busy")
            raise TooManyRequests(
                f"You have {busy} uploads in progress already (at most {cap}); retry when "
                "one has finished.",
                headers={"Retry-After": str(self.retry_after_s())},
                uploads_in_progress=busy,
                max_uploads_per_user=cap,
            )
        self._uploads_of[user_id] += 1
        try:
            yield
        finally:
            self._uploads_of[user_id] -= 1
            if not self._uploads_of[user_id]:
                del self._uploads_of[user_id]

    def _admit(self) -> None:
        """Joins the queue for a slot, or refuses at once when it is full."""
        limit = self._settings.max_queued_conversions
        if self._slots.borrowed_tokens >= self._slots.total_tokens and self._waiting >= limit:
            self._metrics.reject("queue_full")
            raise ServiceUnavailable(
                f"{self._waiting} uploads are waiting for a conversion already (at most "
                f"{limit}); retry later.",
                headers={"Retry-After": str(self.retry_after_s())},
                queued=self._waiting,
            )
        self._waiting += 1
        self._metrics.queue_length.inc()

    def _convert(
        self,
        src: Path,
        dst: Path,
        tags: Mp3Tags,
        cancel: threading.Event | None,
        progress: Callable[[float], None] | None,
    ) -> tuple[ConversionResult, float]:
        settings = self._settings
        self._metrics.in_progress.inc()
        started = time.perf_counter()
        try:
            with dst.open("xb") as out:
                result = convert_wav_to_mp3(
                    src,
                    out,
                    bitrate_kbps=settings.mp3_bitrate_kbps,
                    quality=settings.mp3_quality,
                    max_duration_s=settings.max_duration_s,
                    mode=settings.mp3_mode,
                    vbr_quality=settings.mp3_vbr_quality,
                    normalize_lufs=settings.normalize_lufs,
                    tags=tags,
                    cancel=cancel,
                    progress=progress,
                )
        finally:
            self._metrics.in_progress.dec()
        return result, time.perf_counter() - started

    async def _run(
        self,
        wav_path: Path,
        mp3_path: Path,
        tags: Mp3Tags,
        cancel: threading.Event | None,
        progress: Callable[[float], None] | None,
        *,
        admit: bool,
    ) -> tuple[ConversionResult, float, float]:
        """(result, convert_s, wait_s): waits for a slot, then converts in a worker thread.
        ``admit``: refuse at once when the queue is full (uploads; a job queue's worker takes
        only as many jobs as it has slots, so it never is)."""
        queued = time.perf_counter()
        if admit:
            self._admit()
        else:
            self._waiting += 1
            self._metrics.queue_length.inc()
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self._metrics.queue_length.dec()
        wait_s = time.perf_counter() - queued
        self._metrics.queue_wait.observe(wait_s)
        try:
            # The slot is held here, so the thread needs no limiter of its own beyond
            # anyio's default pool (40 threads, far more than the slots).
            result, convert_s = await anyio.to_thread.run_sync(
                partial(self._convert, wav_path, mp3_path, tags, cancel, progress)
            )
        finally:
            self._slots.release()
        self._typical_convert_s += ESTIMATE_WEIGHT * (convert_s - self._typical_convert_s)
        return result, convert_s, wait_s

    @asynccontextmanager
    async def converted(
        self,
        file: BinaryIO,
        cancel: threading.Event | None = None,
        *,
        user_id: int,
        tags: Mp3Tags | None = None,
    ) -> AsyncIterator[ConvertedUpload]:
        """``file`` converted to an MP3 file (ID3 ``tags``) that exists until the block
        ends; the block counts as one of ``user_id``'s uploads in progress (``user_slot``).

        ``cancel``, once set, stops the conversion (``ConversionCancelled``)."""
        with self.user_slot(user_id):
            async with (
                self.received(file) as wav,
                self.converted_wav(wav, cancel, tags=tags) as converted,
            ):
                yield converted

    @asynccontextmanager
    async def received(self, file: BinaryIO) -> AsyncIterator[ReceivedWav]:
        """``file`` copied into the staging directory (413 past AUDIO_MAX_UPLOAD_BYTES); the
        copy exists until the block ends."""
        wav_path = self._staging_dir / f"{uuid.uuid4().hex}.wav"
        try:
            try:
                input_size = await anyio.to_thread.run_sync(
                    copy_limited, file, wav_path, self._settings.max_upload_bytes
                )
            except AppError as exc:
                self._metrics.refused("file_too_large" if exc.status == 413 else None)
                raise
            self._metrics.received(input_size)
            yield ReceivedWav(wav_path, input_size)
        finally:
            wav_path.unlink(missing_ok=True)

    @asynccontextmanager
    async def staged(self, fill: Callable[[Path], Awaitable[int]]) -> AsyncIterator[ReceivedWav]:
        """A WAV that ``fill(path)`` writes into the staging directory (returning its size),
        e.g. from a job's staged chunks; it exists until the block ends."""
        wav_path = self._staging_dir / f"{uuid.uuid4().hex}.wav"
        try:
            yield ReceivedWav(wav_path, await fill(wav_path))
        finally:
            wav_path.unlink(missing_ok=True)

    def note_refusal(self, exc: AppError, input_size: int) -> None:
        """Counts and logs a WAV the conversion (or the probe before it) refused."""
        code = exc.extra.get("code")
        if exc.status >= 500:
            self._metrics.failed()
        else:
            self._metrics.refused(code)
        log.info("conversion refused", extra={"fields": {"code": code, "input_bytes": input_size}})

    @asynccontextmanager
    async def converted_wav(
        self,
        wav: ReceivedWav,
        cancel: threading.Event | None = None,
        progress: Callable[[float], None] | None = None,
        *,
        tags: Mp3Tags | None = None,
        admit: bool = True,
    ) -> AsyncIterator[ConvertedUpload]:
        """The staged ``wav`` converted to an MP3 file (ID3 ``tags``) that exists until the
        block ends.
        ``progress`` (called from the conversion's thread) gets the share done, 0..1."""
        mp3_path = wav.path.with_suffix(".mp3")
        input_size = wav.size
        try:
            try:
                result, convert_s, wait_s = await self._run(
                    wav.path, mp3_path, tags or Mp3Tags(), cancel, progress, admit=admit
                )
            except (ConversionCancelled, asyncio.CancelledError):
                # Stopped converting (the cancel event), or waiting for a slot.
                self._metrics.cancelled()
                log.info(
                    "conversion cancelled",
                    extra={"fields": {"input_bytes": input_size}},
                )
                raise
            except ServiceUnavailable:
                raise  # the queue was full: no conversion was attempted
            except AppError as exc:
                self.note_refusal(exc, input_size)
                raise
            except Exception:
                self._metrics.failed()
                raise
            self._metrics.converted(
                codec=result.input.codec, audio_s=result.duration_s, convert_s=convert_s
            )
            yield ConvertedUpload(
                mp3_path=mp3_path,
                input_size=input_size,
                result=result,
                wait_s=wait_s,
                convert_s=convert_s,
            )
        finally:
            # Synchronous on purpose: it must also run when the request is cancelled, and
            # unlinking a file does not block the loop for any noticeable time.
            mp3_path.unlink(missing_ok=True)
