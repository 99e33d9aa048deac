"""Tables of the quiz service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION
from shared.db_types import BigIntId, UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


JsonDocument = JSON().with_variant(postgresql.JSONB(), "postgresql")

SOURCE_LENGTH = 16
UPSTREAM_ID_LENGTH = 64
REQUEST_ID_LENGTH = 128


class Question(Base):
    """One stored quiz question.

    ``id`` is the only ordering key: "newest" means the largest id, because ids come from a
    sequence (monotonic, never reused) while timestamps can tie.
    """

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("source", "upstream_id", name="uq_questions_source_upstream_id"),
        # AUTOINCREMENT keeps SQLite from reusing the id of a deleted newest row.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))
    upstream_id: Mapped[str] = mapped_column(String(UPSTREAM_ID_LENGTH))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    raw_question: Mapped[str] = mapped_column(Text)
    raw_answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    value: Mapped[int | None] = mapped_column(Integer)
    airdate: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_LENGTH))
    raw: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
