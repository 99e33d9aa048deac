"""Tables of the quiz service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Computed,
    Date,
    ForeignKey,
    Index,
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

SEARCH_DOCUMENT = (
    "to_tsvector('simple'::regconfig, regexp_replace("
    "question || ' ' || answer || ' ' || coalesce(category, ''), '[^[:alnum:]]+', ' ', 'g'))"
)
"""PostgreSQL's search document of a question: its words, case-folded, unstemmed.

Every run of non-alphanumeric characters becomes a space before the parser sees the text, so
a word is exactly what SQLite FTS5's ``unicode61`` tokenizer calls one (the parser would
otherwise keep e-mail addresses, URLs and hyphenated words whole); and the ``simple``
configuration neither stems nor drops stop words, as FTS5 without ``porter`` does not. The
same query then finds the same rows on both engines (``quiz_service.search``)."""


class Category(Base):
    """A category title and how many stored questions carry it (jService's ``clues_count``).

    One row per distinct (cleaned) title, whatever the source: jService's own category ids
    are not kept, so its categories of one title across games become one here. Questions
    without a title belong to the category titled ``""``, so that every item of the
    jService-compatible API has a category, as jService's had.
    """

    __tablename__ = "categories"
    __table_args__ = (
        UniqueConstraint("title", name="uq_categories_title"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    clues_count: Mapped[int] = mapped_column(Integer, server_default="0")
    """Kept by the ingestion in the transaction that stores the questions."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class Question(Base):
    """One stored quiz question.

    ``id`` is the only ordering key: "newest" means the largest id, because ids come from a
    sequence (monotonic, never reused) while timestamps can tie.
    """

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("source", "upstream_id", name="uq_questions_source_upstream_id"),
        # Each filter of GET /quiz/questions pages newest first: (filter, id) indexes let a
        # page be one backward index range scan.
        Index("ix_questions_category_id_id", "category_id", "id"),
        Index("ix_questions_source_id", "source", "id"),
        Index("ix_questions_value_id", "value", "id"),
        Index("ix_questions_airdate_id", "airdate", "id"),
        Index("ix_questions_search", "search", postgresql_using="gin"),
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
    category_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("categories.id", name="fk_questions_category_id_categories")
    )
    """Null only while a row predates the categories (the migration back-fills them)."""
    search: Mapped[Any] = mapped_column(
        postgresql.TSVECTOR().with_variant(Text(), "sqlite"),
        Computed(SEARCH_DOCUMENT, persisted=True),
        deferred=True,
    )
    """PostgreSQL only, never loaded: the generated search document under the GIN index.
    SQLite has no such column; its index is the FTS5 table ``questions_fts``."""
