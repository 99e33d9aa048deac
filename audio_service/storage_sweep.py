"""The storage sweeper: finishes or undoes what failed uploads, deletes and migrations left.

Idempotent and safe to run anywhere at any time, on any number of instances at once (every
step is "delete if still there"):

1. rows ``deleting`` (a DELETE whose bytes could not be removed then): bytes, then row;
2. rows ``pending`` for longer than the grace period (an upload that failed and could not
   clean up, or whose process died): bytes, then row — such a record was never visible;
3. objects under ``AUDIO_S3_PREFIX`` older than the grace period that no row names (the
   source copy of an interrupted migration to PostgreSQL; anything that slipped past 1-2);
4. multipart uploads started before the grace period and never completed or aborted.

The grace period (``AUDIO_STORAGE_SWEEP_GRACE_S``) keeps 2-4 away from uploads still in
progress on another instance. Every instance sweeps at start and every
``AUDIO_STORAGE_SWEEP_INTERVAL_S``; ``python -m audio_service storage sweep`` runs one sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from audio_service import repository
from audio_service.service import Storages
from audio_service.storage_s3 import S3Storage
from shared.db import Database
from shared.errors import AppError

log = logging.getLogger("audio.storage")

_BATCH = 200


@dataclass
class SweepReport:
    deleted_records: int = 0  # rows "deleting" finished
    abandoned_uploads: int = 0  # rows "pending" past the grace period undone
    orphan_objects: int = 0
    aborted_multipart: int = 0
    skipped: int = 0  # records on a backend this process cannot reach

    @property
    def removed(self) -> int:
        return (
            self.deleted_records
            + self.abandoned_uploads
            + self.orphan_objects
            + self.aborted_multipart
        )


async def sweep(database: Database, storages: Storages, *, grace_s: float) -> SweepReport:
    report = SweepReport()
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_s)
    await _sweep_rows(database, storages, cutoff, report)
    s3 = storages.get(S3Storage.name)
    if isinstance(s3, S3Storage):
        await _sweep_objects(database, s3, cutoff, report)
        await _sweep_multipart(s3, cutoff, report)
    if report.removed or report.skipped:
        log.warning("storage sweep removed leftovers", extra={"fields": vars(report)})
    return report


async def _sweep_rows(
    database: Database, storages: Storages, cutoff: datetime, report: SweepReport
) -> None:
    seen: set[object] = set()
    while True:
        async with database.unit_of_work() as session:
            rows = await repository.unfinished_records(session, pending_before=cutoff, limit=_BATCH)
        rows = [row for row in rows if row.id not in seen]
        if not rows:
            return
        for row in rows:
            seen.add(row.id)
            storage = storages.get(row.storage)
            if storage is None:
                report.skipped += 1
                continue
            await storage.delete(row)
            async with database.unit_of_work() as session:
                await repository.delete_record_row(session, row.id)
            if row.state == "deleting":
                report.deleted_records += 1
            else:
                report.abandoned_uploads += 1


async def _sweep_objects(
    database: Database, s3: S3Storage, cutoff: datetime, report: SweepReport
) -> None:
    async for page in s3.list_objects():
        old = [key for key, modified in page if modified < cutoff]
        async with database.unit_of_work() as session:
            named = await repository.referenced_keys(session, s3.name, old)
        orphans = [key for key in old if key not in named]
        await s3.delete_keys(orphans)
        report.orphan_objects += len(orphans)


async def _sweep_multipart(s3: S3Storage, cutoff: datetime, report: SweepReport) -> None:
    for key, upload_id, initiated in await s3.list_uploads():
        if initiated < cutoff:
            await s3.abort_upload(key, upload_id)
            report.aborted_multipart += 1


async def sweep_logged(database: Database, storages: Storages, *, grace_s: float) -> None:
    """One sweep for the service's background loop: an unavailable store or database is a
    warning (the next sweep retries), never a crash of the loop."""
    try:
        await sweep(database, storages, grace_s=grace_s)
    except (AppError, OSError) as exc:
        log.warning("storage sweep postponed: %s", exc)
