"""What the audio service's lifespan opens: the staging directory, the conversion slots, the
storage backends (and the S3 client), the storage sweeper, and the service that uses them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx

from audio_service import repository
from audio_service.auth import TokenHasher
from audio_service.job_queue import CALLBACK, CONVERT, InProcessQueue, JobQueue, ProcrastinateQueue
from audio_service.jobs import JobService
from audio_service.metrics import AudioMetrics
from audio_service.service import AudioService, Storages
from audio_service.settings import LOCAL_TOKEN_SECRET, AudioSettings
from audio_service.staging import staging_dir
from audio_service.storage import Storage
from audio_service.storage_postgres import PostgresStorage
from audio_service.storage_s3 import S3Storage, s3_client
from audio_service.storage_sweep import sweep_logged
from audio_service.uploads import Converter
from audio_service.webhooks import WebhookSender
from shared.db import Database, async_url, is_sqlite

log = logging.getLogger("audio")


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioResources:
    """``app.state.resources`` of the audio service: what its routes reach."""

    settings: AudioSettings
    database: Database
    audio: AudioService
    jobs: JobService
    webhooks: WebhookSender


def wants_s3(settings: AudioSettings) -> bool:
    """S3 is opened when new records go there, or when an endpoint is configured (records
    moved there earlier stay readable after switching back to postgres)."""
    return settings.storage_backend == "s3" or settings.s3_endpoint_url is not None


@asynccontextmanager
async def open_storages(settings: AudioSettings, database: Database) -> AsyncIterator[Storages]:
    """Every configured backend; the S3 client's connection pool lives as long as the block.
    Opening does not contact the object store: a store that is down at start only makes its
    requests 503 until it is back."""
    async with AsyncExitStack() as stack:
        others: dict[str, Storage] = {}
        if wants_s3(settings):
            client = await stack.enter_async_context(s3_client(settings))
            others[S3Storage.name] = S3Storage(client, settings)
        postgres = PostgresStorage(database, settings.download_window_bytes)
        yield Storages(postgres, others, settings.storage_backend)


async def _sweep_forever(settings: AudioSettings, database: Database, storages: Storages) -> None:
    while True:
        await sweep_logged(database, storages, grace_s=settings.storage_sweep_grace_s)
        if settings.storage_sweep_interval_s <= 0:
            return
        await anyio.sleep(settings.storage_sweep_interval_s)


@asynccontextmanager
async def open_resources(
    settings: AudioSettings, metrics: AudioMetrics, database: Database
) -> AsyncIterator[AudioResources]:
    secret = settings.token_secret.get_secret_value()
    if secret == LOCAL_TOKEN_SECRET and not is_sqlite(async_url(settings.database_url)):
        log.warning("AUDIO_TOKEN_SECRET is the local default; set a secret of your own")
    with staging_dir(settings.tmp_dir) as staging:
        async with open_storages(settings, database) as storages, AsyncExitStack() as stack:
            hasher = TokenHasher(secret)
            converter = Converter(settings, staging, metrics)
            audio = AudioService(database, settings, hasher, converter, storages, metrics)
            in_process = InProcessQueue(settings.job_retry_wait_s)
            queue: JobQueue = in_process if is_sqlite(database.engine.url) else ProcrastinateQueue()
            jobs = JobService(database, settings, hasher, converter, audio, queue, metrics)
            # In the background: a start must not wait for (or fail with) the object store.
            sweeper = asyncio.create_task(_sweep_forever(settings, database, storages))
            # No redirects: one could lead past the callback URL's address check.
            client = await stack.enter_async_context(httpx.AsyncClient(follow_redirects=False))
            webhooks = WebhookSender(database, settings, client, metrics)
            if queue is in_process:
                in_process.start(
                    {
                        CONVERT: (jobs.run, None),
                        CALLBACK: (webhooks.deliver, settings.webhook_max_attempts),
                    }
                )
                async with database.unit_of_work() as session:
                    await in_process.recover(await repository.unfinished_jobs(session))
            try:
                yield AudioResources(
                    settings=settings, database=database, audio=audio, jobs=jobs, webhooks=webhooks
                )
            finally:
                await in_process.close()
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
