"""Where a record's MP3 bytes live: the one interface the service layer stores and reads through.

Two implementations, chosen per record by ``records.storage`` (new records get
``AUDIO_STORAGE_BACKEND``):

- ``storage_postgres.PostgresStorage``: ``record_chunks`` rows next to the metadata (the
  default; nothing else to run);
- ``storage_s3.S3Storage``: one object per record in any S3 API (AWS, MinIO, Ceph RGW,
  SeaweedFS), written by a streamed multipart upload.

The metadata is always the ``records`` row, and the service makes a record visible only once
its bytes are complete (``records.state``, see ``models``): it commits a ``pending`` row
naming the key first, then writes the bytes (``put``), then flips the row to ``ready``. A
crash or a failure anywhere in between leaves a pending row, never a visible record, and
never an object that no row names; ``storage_sweep`` removes both after a grace period.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Protocol

from audio_service.models import Record
from shared.errors import ServiceUnavailable

STORAGE_UNAVAILABLE_DETAIL = "The object store is unavailable; retry later."


class StorageUnavailable(ServiceUnavailable):
    """The object store could not be reached or refused to serve (a 503 for the client)."""

    def __init__(self, detail: str = STORAGE_UNAVAILABLE_DETAIL) -> None:
        super().__init__(detail, code="storage_unavailable")


class RecordVanished(Exception):
    """A record's bytes were gone when they were read: it was deleted meanwhile."""


class Storage(Protocol):
    """The bytes of records, by record. Every method is idempotent where it can be: ``put``
    again overwrites, ``delete`` of what is gone is a no-op."""

    @property
    def name(self) -> str:
        """The ``records.storage`` value of the records this storage holds."""
        ...

    def key_for(self, record: Record) -> str | None:
        """The ``records.storage_key`` a new record gets (None: the record id is the key)."""
        ...

    async def put(self, record: Record, source: Path) -> None:
        """Store the file ``source`` (``record.mp3_size`` bytes) as the record's bytes,
        streamed in bounded pieces. Raises if they were not all stored."""
        ...

    def read(self, record: Record, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start..end`` (inclusive), in pieces; ``RecordVanished`` when they are gone."""
        ...

    async def locate(
        self, record: Record, response_headers: Mapping[str, str] | None = None
    ) -> str | None:
        """A short-lived URL the bytes can be fetched from without this process (S3: a
        presigned GET, which the object store answers with ``response_headers``); None
        when they can only come through ``read``."""
        ...

    async def delete(self, record: Record) -> None:
        """Remove the record's bytes; nothing to remove is not an error."""
        ...
