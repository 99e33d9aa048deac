"""From an uploaded file to a converted MP3 on disk, off the event loop, leaving nothing behind.

The multipart parser has already spooled the file (Starlette keeps it in memory up to 1 MiB,
on disk above). It is copied in blocks into a file of ours under a random name, counting
bytes against ``AUDIO_MAX_UPLOAD_BYTES``; the conversion reads that file and writes the MP3
next to it. Both files are removed whatever happens, and the caller stores the MP3 while
they exist.
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
from fastapi import UploadFile

from audio_service.conversion import ConversionResult, convert_wav_to_mp3
from audio_service.runtime import AudioRuntime
from shared.errors import AppError, PayloadTooLarge, Unprocessable

log = logging.getLogger("audio.conversion")

COPY_BLOCK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ConvertedUpload:
    mp3_path: Path
    input_size: int
    result: ConversionResult
    wait_s: float  # queued for a conversion slot
    convert_s: float


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {limit} bytes allowed.", max_upload_bytes=limit
    )


def copy_limited(src: BinaryIO, dst: Path, limit: int) -> int:
    """Copy ``src`` into the new file ``dst`` block by block; 413 once past ``limit`` bytes."""
    copied = 0
    with dst.open("xb") as out:
        while block := src.read(COPY_BLOCK_BYTES):
            copied += len(block)
            if copied > limit:
                raise too_large(limit)
            out.write(block)
    return copied


def _convert(src: Path, dst: Path, runtime: AudioRuntime) -> tuple[ConversionResult, float]:
    settings = runtime.settings
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
async def converted(runtime: AudioRuntime, upload: UploadFile) -> AsyncIterator[ConvertedUpload]:
    """The upload converted to an MP3 file that exists until the block ends."""
    limit = runtime.settings.max_upload_bytes
    if upload.size is not None and upload.size > limit:
        raise too_large(limit)
    stem = runtime.staging_dir / uuid.uuid4().hex
    wav_path, mp3_path = stem.with_suffix(".wav"), stem.with_suffix(".mp3")
    try:
        input_size = await anyio.to_thread.run_sync(copy_limited, upload.file, wav_path, limit)
        if input_size == 0:
            raise Unprocessable("The uploaded file is empty.", code="empty_file")
        queued = time.perf_counter()
        try:
            result, convert_s = await anyio.to_thread.run_sync(
                partial(_convert, wav_path, mp3_path, runtime), limiter=runtime.conversions
            )
        except AppError as exc:
            log.info(
                "conversion refused",
                extra={"fields": {"code": exc.extra.get("code"), "input_bytes": input_size}},
            )
            raise
        wait_s = time.perf_counter() - queued - convert_s
        yield ConvertedUpload(
            mp3_path=mp3_path,
            input_size=input_size,
            result=result,
            wait_s=wait_s,
            convert_s=convert_s,
        )
    finally:
        # Synchronous on purpose: it must also run when the request is cancelled, and
        # unlinking two files does not block the loop for any noticeable time.
        wav_path.unlink(missing_ok=True)
        mp3_path.unlink(missing_ok=True)
