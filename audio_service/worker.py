"""``python -m audio_service worker``: a conversion worker on the procrastinate queue.

Any number of them, on any machine that reaches the service's PostgreSQL database (the queue
lives there: ``job_queue``). Each applies the migrations first (like ``serve``), then takes
up to ``AUDIO_CONVERSION_WORKERS`` jobs at once (one per core by default) and converts each
through ``jobs.JobService.run``, which stores the record exactly as an upload would.

A worker says it is alive every ``AUDIO_WORKER_HEARTBEAT_S``; each worker also looks, as
often, for jobs whose worker has been silent for ``AUDIO_WORKER_STALLED_AFTER_S`` (it was
SIGKILLed, ran out of memory, lost its machine) and hands them back to the queue, where
another worker takes them. SIGTERM/SIGINT stop it gracefully: it takes no new job and
finishes the ones it has.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.resources
import logging
import os
import socket
import uuid
from pathlib import Path

import procrastinate
from procrastinate import RetryStrategy
from procrastinate.exceptions import ProcrastinateException
from sqlalchemy.engine import make_url

from audio_service.job_queue import CALLBACK, CONVERT, QUEUE_NAME
from audio_service.jobs import JobService
from audio_service.metrics import AudioMetrics
from audio_service.resources import open_resources
from audio_service.settings import AudioSettings
from audio_service.webhooks import WebhookSender
from shared.db import Database, async_url, is_sqlite
from shared.logging_setup import configure_logging
from shared.metrics import create_registry
from shared.migrations import upgrade_database

log = logging.getLogger("audio.worker")


class RetryLater(Exception):
    """The job hit a transient fault: procrastinate queues it again after a backoff."""


def libpq_url(database_url: str) -> str:
    """The database URL as psycopg reads it (no SQLAlchemy driver suffix)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def queue_app(settings: AudioSettings) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(settings.database_url),
        min_size=1,
        max_size=settings.conversion_workers + 2,
    )
    return procrastinate.App(connector=connector)


def register_tasks(
    app: procrastinate.App, jobs: JobService, sender: WebhookSender, settings: AudioSettings
) -> None:
    # procrastinate's attempts count only transient faults; the job row counts every
    # conversion started (killed ones too) and fails the job at AUDIO_JOB_MAX_ATTEMPTS,
    # so procrastinate is allowed one more, as a backstop.
    wait = round(settings.job_retry_wait_s)
    retry = RetryStrategy(
        max_attempts=settings.job_max_attempts + 1,
        exponential_wait=wait,
        retry_exceptions=[RetryLater],
    )

    @app.task(name=CONVERT, queue=QUEUE_NAME, retry=retry)
    async def convert(job_id: str) -> None:
        if not await jobs.run(uuid.UUID(job_id)):
            raise RetryLater(job_id)

    callback_retry = RetryStrategy(
        max_attempts=settings.webhook_max_attempts - 1,
        exponential_wait=wait,
        retry_exceptions=[RetryLater],
    )

    # procrastinate reads max_attempts=0 as "retry forever": one attempt is no retry at all.
    @app.task(
        name=CALLBACK,
        queue=QUEUE_NAME,
        retry=callback_retry if settings.webhook_max_attempts > 1 else False,
    )
    async def callback(job_id: str) -> None:
        if not await sender.deliver(uuid.UUID(job_id)):
            raise RetryLater(job_id)


async def requeue_stalled(app: procrastinate.App, settings: AudioSettings) -> None:
    """Forever: jobs whose worker stopped sending heartbeats go back to the queue."""
    while True:
        await asyncio.sleep(settings.worker_heartbeat_s)
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                queue=QUEUE_NAME, seconds_since_heartbeat=settings.worker_stalled_after_s
            )
            for job in stalled:
                with contextlib.suppress(ProcrastinateException):  # another worker was first
                    await app.job_manager.retry_job(job)
                log.warning(
                    "requeued the job of a worker that stopped",
                    extra={"fields": {"queue_job_id": job.id, "args": job.task_kwargs}},
                )
        except Exception as exc:
            # The database restarting, say: this loop must outlive it, or no job of a
            # worker that dies afterwards would ever be retried.
            log.warning("could not look for stalled jobs: %s: %s", type(exc).__name__, exc)


async def run_worker(settings: AudioSettings) -> None:
    database = Database.from_settings(settings, "audio_service-worker")
    metrics = AudioMetrics(create_registry())
    try:
        async with open_resources(settings, metrics, database) as resources:
            app = queue_app(settings)
            register_tasks(app, resources.jobs, resources.webhooks, settings)
            async with app.open_async():
                requeuer = asyncio.create_task(requeue_stalled(app, settings))
                try:
                    await app.run_worker_async(
                        queues=[QUEUE_NAME],
                        name=f"{socket.gethostname()}-{os.getpid()}",
                        concurrency=settings.conversion_workers,
                        update_heartbeat_interval=settings.worker_heartbeat_s,
                        stalled_worker_timeout=settings.worker_stalled_after_s,
                        delete_jobs="successful",
                        install_signal_handlers=True,
                    )
                finally:
                    requeuer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await requeuer
    finally:
        await database.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audio_service worker",
        description="Convert queued jobs (needs AUDIO_DATABASE_URL on PostgreSQL).",
    )
    parser.parse_args(argv)
    settings = AudioSettings()
    configure_logging("audio_service", settings.log_level, settings.log_format)
    if is_sqlite(async_url(settings.database_url)):
        log.error(
            "the worker needs PostgreSQL (AUDIO_DATABASE_URL); on SQLite the service converts "
            "its jobs itself"
        )
        return 2
    alembic_ini = Path(str(importlib.resources.files("audio_service") / "alembic.ini"))
    upgrade_database(alembic_ini, settings.database_url)
    asyncio.run(run_worker(settings))
    return 0
