"""What the audio service's lifespan opens: the staging directory, the conversion slots and
the service that uses them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from audio_service.auth import TokenHasher
from audio_service.metrics import AudioMetrics
from audio_service.service import AudioService
from audio_service.settings import LOCAL_TOKEN_SECRET, AudioSettings
from audio_service.staging import staging_dir
from audio_service.uploads import Converter
from shared.db import Database, async_url, is_sqlite

log = logging.getLogger("audio")


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioResources:
    """``app.state.resources`` of the audio service: what its routes reach."""

    settings: AudioSettings
    database: Database
    audio: AudioService


@asynccontextmanager
async def open_resources(
    settings: AudioSettings, metrics: AudioMetrics, database: Database
) -> AsyncIterator[AudioResources]:
    secret = settings.token_secret.get_secret_value()
    if secret == LOCAL_TOKEN_SECRET and not is_sqlite(async_url(settings.database_url)):
        log.warning("AUDIO_TOKEN_SECRET is the local default; set a secret of your own")
    with staging_dir(settings.tmp_dir) as staging:
        converter = Converter(settings, staging, metrics)
        audio = AudioService(database, settings, TokenHasher(secret), converter, metrics)
        yield AudioResources(settings=settings, database=database, audio=audio)
