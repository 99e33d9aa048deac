"""From an uploaded file to a converted MP3 on disk, off the event loop, leaving nothing behind.

The multipart parser has already spooled the file (Starlette keeps it in memory up to 1 MiB,
on disk above). It is copied in blocks into a file of ours under a random name, counting
bytes against ``AUDIO_MAX_UPLOAD_BYTES``; the conversion reads that file and writes the MP3
next to it. Both files are removed whatever happens, and the caller stores the MP3 while
they exist. Everything the WAV itself must satisfy is ``wav_probe``'s to check.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import anyio

from audio_service.conversion import ConversionResult, convert_wav_to_mp3
from audio_service.settings import AudioSettings
from shared.body_limit import file_too_large
from shared.errors import AppError

log = logging.getLogger("audio.conversion")

COPY_BLOCK_BYTES = 1024 * 1024


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
    without letting a burst of uploads thrash them; the rest wait their turn.
    """

    def __init__(self, settings: AudioSettings, staging_dir: Path) -> None:
        self._settings = settings
        self._staging_dir = staging_dir
        self._slots = anyio.CapacityLimiter(settings.conversion_workers)

    def _convert(self, src: Path, dst: Path) -> tuple[ConversionResult, float]:
        settings = self._settings
        started = time.perf_counter()
        with dst.open("xb") as out:
            result = convert_wav_to_mp3(
                src,
                out,
                bitrate_kbps=settings.mp3_bitrate_kbps,
                quality=settings.mp3_quality,
                max_duration_s=settings.max_duration_s,
            )
        return result, time.perf_counter() - started

    @asynccontextmanager
    async def converted(self, file: BinaryIO) -> AsyncIterator[ConvertedUpload]:
        """``file`` converted to an MP3 file that exists until the block ends."""
        limit = self._settings.max_upload_bytes
        stem = self._staging_dir / uuid.uuid4().hex
        wav_path, mp3_path = stem.with_suffix(".wav"), stem.with_suffix(".mp3")
        try:
            input_size = await anyio.to_thread.run_sync(copy_limited, file, wav_path, limit)
            queued = time.perf_counter()
            try:
                result, convert_s = await anyio.to_thread.run_sync(
                    partial(self._convert, wav_path, mp3_path), limiter=self._slots
                )
            except AppError as exc:
                log.info(
                    "conversion refused",
                    extra={"fields": {"code": exc.extra.get("code"), "input_bytes": input_size}},
                )
                raise
            yield ConvertedUpload(
                mp3_path=mp3_path,
                input_size=input_size,
                result=result,
                wait_s=time.perf_counter() - queued - convert_s,
                convert_s=convert_s,
            )
        finally:
            # Synchronous on purpose: it must also run when the request is cancelled, and
            # unlinking two files does not block the loop for any noticeable time.
            wav_path.unlink(missing_ok=True)
            mp3_path.unlink(missing_ok=True)
