"""What the audio service adds to the app's lifespan: the conversion pool and a staging dir."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request

from audio_service.auth import TokenHasher
from audio_service.settings import LOCAL_TOKEN_SECRET, AudioSettings
from shared.db import async_url, is_sqlite

log = logging.getLogger("audio")


@dataclass(frozen=True, slots=True)
class AudioRuntime:
    settings: AudioSettings
    hasher: TokenHasher
    # Conversions are CPU-bound and release the GIL: one token per core keeps every core
    # busy without letting a burst of uploads thrash them; the rest wait their turn.
    conversions: anyio.CapacityLimiter
    # Uploads and MP3s in flight, under random names; removed with the app.
    staging_dir: Path


@asynccontextmanager
async def audio_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AudioSettings = app.state.settings
    secret = settings.token_secret.get_secret_value()
    if secret == LOCAL_TOKEN_SECRET and not is_sqlite(async_url(settings.database_url)):
        log.warning("AUDIO_TOKEN_SECRET is the local default; set a secret of your own")
    staging_dir = Path(tempfile.mkdtemp(prefix="audio-staging-", dir=settings.tmp_dir))
    app.state.audio = AudioRuntime(
        settings=settings,
        hasher=TokenHasher(secret),
        conversions=anyio.CapacityLimiter(settings.conversion_workers),
        staging_dir=staging_dir,
    )
    try:
        yield
    finally:
        shutil.rmtree(staging_dir, ignore_errors=True)


def get_runtime(request: Request) -> AudioRuntime:
    runtime: AudioRuntime = request.app.state.audio
    return runtime


Runtime = Annotated[AudioRuntime, Depends(get_runtime)]
