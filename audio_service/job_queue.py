"""Where conversion jobs wait for a worker: procrastinate on PostgreSQL, or in-process on SQLite.

- ``ProcrastinateQueue`` (PostgreSQL): the job's queue entry is a ``procrastinate_jobs`` row
  inserted in the same transaction as the job row and its staged WAV (``repository.defer_job``),
  so a crash of the API between them can neither lose a job nor queue one that does not
  exist; workers (``python -m audio_service worker``, any number, on any machine that reaches
  the database) take it with ``SELECT ... FOR UPDATE SKIP LOCKED`` and wake on NOTIFY.
- ``InProcessQueue`` (SQLite, the embedded default of ``make run``): SQLite has no server
  that another process could wait on, so the service converts its jobs itself, in the
  background of the process that accepted them, through the same conversion slots as its
  uploads. The 202 contract is the same; the durable part is the job row: a restart takes up
  every job not final yet (``recover``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from audio_service import repository

log = logging.getLogger("audio.jobs")

QUEUE_NAME = "conversions"
CONVERT = "audio_service.convert"
CALLBACK = "audio_service.callback"
TASKS = (CONVERT, CALLBACK)

RunJob = Callable[[uuid.UUID, threading.Event], Awaitable[bool]]
"""Does one task of a job (``CONVERT`` it, or deliver its ``CALLBACK``), stopping when the
event is set; True when done with, False to retry it later."""


class JobQueue(Protocol):
    async def enqueue(self, session: AsyncSession, task: str, job_id: uuid.UUID) -> None:
        """Queues ``task`` of the job in the caller's transaction (where the queue allows)."""
        ...

    def committed(self, task: str, job_id: uuid.UUID) -> None:
        """The enqueueing transaction has committed."""
        ...


class ProcrastinateQueue:
    async def enqueue(self, session: AsyncSession, task: str, job_id: uuid.UUID) -> None:
        await repository.defer_job(
            session, queue=QUEUE_NAME, task=task, args={"job_id": str(job_id)}
        )

    def committed(self, task: str, job_id: uuid.UUID) -> None:
        pass  # the commit itself NOTIFYs the workers


class InProcessQueue:
    """Runs each task as an asyncio task of this process, retrying it (``retry_wait_s``,
    doubled each time) while its runner says it is not done with, at most the runner's
    attempts (None: until it is; the conversion counts its own)."""

    def __init__(self, retry_wait_s: float) -> None:
        self._retry_wait_s = retry_wait_s
        self._runners: dict[str, tuple[RunJob, int | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = threading.Event()

    def start(self, runners: dict[str, tuple[RunJob, int | None]]) -> None:
        self._runners = runners

    async def enqueue(self, session: AsyncSession, task: str, job_id: uuid.UUID) -> None:
        pass  # the job row is the queue entry

    def committed(self, task: str, job_id: uuid.UUID) -> None:
        running = asyncio.create_task(self._run(task, job_id), name=f"{task}-{job_id}")
        self._tasks.add(running)
        running.add_done_callback(self._tasks.discard)

    async def recover(self, job_ids: list[uuid.UUID]) -> None:
        for job_id in job_ids:
            self.committed(CONVERT, job_id)
        if job_ids:
            log.info("took up unfinished jobs", extra={"fields": {"jobs": len(job_ids)}})

    async def _run(self, task: str, job_id: uuid.UUID) -> None:
        run, attempts = self._runners[task]
        wait = self._retry_wait_s
        tried = 0
        try:
            while not await run(job_id, self._stopping):
                tried += 1
                if attempts is not None and tried >= attempts:
                    log.warning(
                        "in-process task given up",
                        extra={"fields": {"task": task, "job": str(job_id), "attempts": tried}},
                    )
                    return
                await asyncio.sleep(wait)
                wait *= 2
        except Exception:
            if not self._stopping.is_set():
                log.exception("an in-process task stopped", extra={"fields": {"job": str(job_id)}})

    async def close(self) -> None:
        """Stops the jobs in progress (a conversion between two blocks); their rows stay
        unfinished, for the next start."""
        self._stopping.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
