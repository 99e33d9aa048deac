"""Tables of the audio service.

A record's metadata is always a ``records`` row; its MP3 bytes live where ``records.storage``
says (``audio_service.storage``):

- ``postgres``: split into ``record_chunks`` rows of ``records.chunk_bytes`` bytes each (the
  last one shorter). An upload inserts them one by one from the temporary MP3 file, and a
  download (or a byte range of one) reads only the rows it needs, a bounded window at a time,
  so neither ever holds a whole MP3 in memory. It works the same on PostgreSQL (BYTEA) and
  SQLite (BLOB); PostgreSQL's large objects would not.
- ``s3``: one object, ``records.storage_key``, in the configured bucket.

What the conversion measured stays with the metadata: loudness and normalisation as
``records`` columns (null on records converted before they were measured), the waveform peaks
(audiowaveform binary, at most 512 KiB: ``audio_service.peaks``) in ``record_peaks``, a table
of their own so that listing records never reads them.

``records.state`` makes a record visible only once its bytes are complete: ``pending`` while
they are written, ``ready`` once they are, ``deleting`` from a DELETE until its bytes are
gone. Only ``ready`` records are ever served or listed; the sweeper
(``audio_service.storage_sweep``) finishes or undoes whatever a crash left in the others.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION
from shared.db_types import BigIntId, UtcDateTime

NAME_MAX_LENGTH = 100
FILENAME_MAX_LENGTH = 255
TOKEN_HASH_BYTES = 32  # HMAC-SHA256
INPUT_FIELDS = (
    "container",
    "codec",
    "format_tag",
    "subformat_tag",
    "sample_rate",
    "channels",
    "bit_depth",
    "frames",
)
"""Fields of the probe's ``InputFormat`` that a record keeps, each as column ``input_<name>``."""

STORAGE_NAMES = ("postgres", "s3")
"""Where a record's MP3 bytes may live (``records.storage``)."""
STORAGE_KEY_MAX_LENGTH = 512
PENDING, READY, DELETING = "pending", "ready", "deleting"
"""The states of a record (``records.state``); only READY ones are visible."""
QUEUED, CONVERTING, DONE, FAILED = "queued", "converting", "done", "failed"
"""The states of a conversion job (``conversion_jobs.status``); DONE and FAILED are final.
A job row, its staged WAV and its queue entry are committed in one transaction, so a job
exists only once it is queued."""
CALLBACK_URL_MAX_LENGTH = 2048


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> datetime:
    return datetime.now(UTC)


class User(Base):
    __tablename__ = "users"
    # AUTOINCREMENT keeps SQLite from handing a deleted user's id to someone else.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), unique=True)
    # HMAC-SHA256(AUDIO_TOKEN_SECRET, token): the token itself is never stored.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(TOKEN_HASH_BYTES))
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=_now, server_default=func.now()
    )


class Record(Base):
    """One converted upload: its metadata here, its MP3 bytes where ``storage`` says."""

    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_user_id_created_at", "user_id", "created_at"),
        # The sweeper's work list: small, as almost every record is ready.
        Index(
            "ix_records_unfinished",
            "state",
            "created_at",
            postgresql_where=text("state <> 'ready'"),
            sqlite_where=text("state <> 'ready'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # Sanitised metadata only: never used as a path nor to guess the format.
    original_filename: Mapped[str | None] = mapped_column(String(FILENAME_MAX_LENGTH))
    input_size: Mapped[int] = mapped_column(BigInteger)
    input_container: Mapped[str] = mapped_column(String(16))
    input_codec: Mapped[str] = mapped_column(String(32))
    input_format_tag: Mapped[int] = mapped_column(Integer)
    input_subformat_tag: Mapped[int | None] = mapped_column(Integer)
    input_sample_rate: Mapped[int] = mapped_column(Integer)
    input_channels: Mapped[int] = mapped_column(SmallInteger)
    input_bit_depth: Mapped[int | None] = mapped_column(SmallInteger)
    input_frames: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(SmallInteger)
    bitrate_kbps: Mapped[int] = mapped_column(SmallInteger)
    mp3_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # "cbr" or "vbr"; for VBR, LAME's -V and the real mean bitrate (bitrate_kbps rounds it).
    mp3_mode: Mapped[str] = mapped_column(String(3), default="cbr", server_default="cbr")
    vbr_quality: Mapped[int | None] = mapped_column(SmallInteger)
    mean_bitrate_kbps: Mapped[float | None] = mapped_column(Float)
    # EBU R128 of the MP3's audio (after any normalisation); null: silence, or not measured.
    integrated_lufs: Mapped[float | None] = mapped_column(Float)
    loudness_range_lu: Mapped[float | None] = mapped_column(Float)
    true_peak_dbtp: Mapped[float | None] = mapped_column(Float)
    # AUDIO_NORMALIZE_LUFS when the record was converted (null: normalisation was off), the
    # gain applied, and whether the true-peak ceiling kept the record below the target.
    normalization_target_lufs: Mapped[float | None] = mapped_column(Float)
    normalization_gain_db: Mapped[float | None] = mapped_column(Float)
    normalization_limited: Mapped[bool | None] = mapped_column(Boolean)
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=_now, server_default=func.now()
    )
    # Where the MP3 is: "postgres" (record_chunks) or "s3" (the object storage_key).
    storage: Mapped[str] = mapped_column(String(16), default="postgres", server_default="postgres")
    storage_key: Mapped[str | None] = mapped_column(String(STORAGE_KEY_MAX_LENGTH))
    state: Mapped[str] = mapped_column(String(16), default=READY, server_default=READY)


class RecordPeaks(Base):
    """A record's waveform peaks, audiowaveform's binary format version 2 (``peaks.Peaks``)."""

    __tablename__ = "record_peaks"

    record_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RecordChunk(Base):
    """Piece ``seq`` (from 0) of a record's MP3: bytes ``seq * chunk_bytes`` onwards."""

    __tablename__ = "record_chunks"

    record_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ConversionJob(Base):
    """An upload converted by a worker (``audio_service.jobs``): its WAV is staged in
    ``job_chunks`` until a worker has stored the record it became (``record_id``)."""

    __tablename__ = "conversion_jobs"
    __table_args__ = (
        Index("ix_conversion_jobs_user_id", "user_id"),
        # The sweeper's and the recovery's work list: small, as almost every job is final.
        Index(
            "ix_conversion_jobs_unfinished",
            "status",
            "created_at",
            postgresql_where=text("status IN ('queued', 'converting')"),
            sqlite_where=text("status IN ('queued', 'converting')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    original_filename: Mapped[str | None] = mapped_column(String(FILENAME_MAX_LENGTH))
    # The ID3 title/artist given at upload (the form allows 200 characters), for the worker.
    title: Mapped[str | None] = mapped_column(String(200))
    artist: Mapped[str | None] = mapped_column(String(200))
    input_size: Mapped[int] = mapped_column(BigInteger)
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    # Conversions started (by any worker); a worker that dies mid-way leaves it counted.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The RFC 9457 problem (without request_id/instance) of a failed job.
    problem: Mapped[dict[str, object] | None] = mapped_column(JSON)
    callback_url: Mapped[str | None] = mapped_column(String(CALLBACK_URL_MAX_LENGTH))
    # Scheme, host and prefix of the links the client was given (for the callback's links).
    base_url: Mapped[str] = mapped_column(String(CALLBACK_URL_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=_now, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=_now, server_default=func.now(), onupdate=_now
    )


class JobChunk(Base):
    """Piece ``seq`` of a job's staged WAV, until the job is final (then the rows go)."""

    __tablename__ = "job_chunks"

    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversion_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
