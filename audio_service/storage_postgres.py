"""MP3 bytes as ``record_chunks`` rows in the service's own database (the default backend).

Writes insert one chunk at a time from the staged MP3 in one transaction, so the bytes are
all there or none. Reads fetch a whole window of chunks (``AUDIO_DOWNLOAD_WINDOW_BYTES``) per
query and transaction: a download that fits one window costs one transaction together with
its metadata (``read_window`` inside the service's own unit of work), a larger one one per
window, and no connection is ever held while a client reads (a slow client would otherwise
pin one of the pool's connections for the whole download).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from audio_service import repository
from audio_service.models import Record
from audio_service.storage import RecordVanished
from shared.db import Database


class PostgresStorage:
    name = "postgres"

    def __init__(self, database: Database, window_bytes: int) -> None:
        self._database = database
        self._window_bytes = window_bytes

    def key_for(self, record: Record) -> str | None:
        return None  # the chunks are keyed by the record id

    def window_chunks(self, record: Record) -> int:
        """Chunks per window: at least one, whatever the record's chunk size."""
        return max(1, self._window_bytes // record.chunk_bytes)

    def fits_one_window(self, record: Record, start: int, end: int) -> bool:
        size = record.chunk_bytes
        return end // size - start // size < self.window_chunks(record)

    async def put(self, record: Record, source: Path) -> None:
        async with self._database.unit_of_work() as session:
            await self.write_in(session, record, source)

    async def write_in(self, session: AsyncSession, record: Record, source: Path) -> None:
        """The chunks, inserted one at a time in the caller's transaction."""
        stored = 0
        async with await anyio.open_file(source, "rb") as mp3:
            seq = 0
            while data := await mp3.read(record.chunk_bytes):
                await repository.add_chunk(session, record.id, seq, data)
                stored += len(data)
                seq += 1
        if stored != record.mp3_size:
            raise RuntimeError(f"stored {stored} MP3 bytes, the encoder wrote {record.mp3_size}")

    async def read_window(
        self, session: AsyncSession, record: Record, start: int, end: int
    ) -> list[bytes]:
        """Bytes ``start..end`` (inclusive) in one query, as pieces cut from the chunks;
        ``RecordVanished`` when a chunk is missing."""
        size = record.chunk_bytes
        first, last = start // size, end // size
        chunks = await repository.read_chunks(session, record.id, first, last)
        if len(chunks) != last - first + 1:
            raise RecordVanished(f"record {record.id} lost chunks {first}..{last}")
        pieces = []
        for seq, data in enumerate(chunks, start=first):
            lo = start - seq * size if seq == first else 0
            hi = end - seq * size + 1 if seq == last else len(data)
            pieces.append(data if (lo, hi) == (0, len(data)) else data[lo:hi])
        return pieces

    async def read(self, record: Record, start: int, end: int) -> AsyncIterator[bytes]:
        """One window per unit of work: no connection is held while the client reads."""
        window = self.window_chunks(record) * record.chunk_bytes
        position = start
        while position <= end:
            # Windows are aligned to chunk boundaries, so each chunk is read only once.
            window_end = min(end, (position // window + 1) * window - 1)
            async with self._database.unit_of_work() as session:
                pieces = await self.read_window(session, record, position, window_end)
            for piece in pieces:
                yield piece
            position = window_end + 1

    async def locate(
        self, record: Record, response_headers: Mapping[str, str] | None = None
    ) -> str | None:
        return None  # only this process can read the database rows

    async def delete(self, record: Record) -> None:
        async with self._database.unit_of_work() as session:
            await repository.delete_chunks(session, record.id)
