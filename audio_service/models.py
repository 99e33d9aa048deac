"""Tables of the audio service.

The MP3 of a record is not one big column: it is split into ``record_chunks`` rows of
``records.chunk_bytes`` bytes each (the last one shorter). An upload inserts them one by one
from the temporary MP3 file, and a download (or a byte range of one) reads only the rows it
needs, one at a time, so neither ever holds a whole MP3 in memory. It works the same on
PostgreSQL (BYTEA) and SQLite (BLOB); PostgreSQL's large objects would not.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
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
    """One converted upload: its metadata here, its MP3 bytes in ``record_chunks``."""

    __tablename__ = "records"
    __table_args__ = (Index("ix_records_user_id_created_at", "user_id", "created_at"),)

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
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=_now, server_default=func.now()
    )


class RecordChunk(Base):
    """Piece ``seq`` (from 0) of a record's MP3: bytes ``seq * chunk_bytes`` onwards."""

    __tablename__ = "record_chunks"

    record_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
