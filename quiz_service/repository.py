"""All SQL of the quiz service. Functions here flush at most; callers own the transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, ScalarSelect, Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from quiz_service.models import Category, Question
from quiz_service.upstream import UpstreamQuestion

QUESTIONS = cast(Table, Question.__table__)  # a mapped class's table is a Table
CATEGORIES = cast(Table, Category.__table__)
LOOKUP_CHUNK = 1000
"""Ids per lookup SELECT: far below every driver's bind-parameter limit."""


def _clue_count(category_id: ColumnElement[int]) -> ScalarSelect[int]:
    """The number of stored questions of a category, as a subquery."""
    return (
        select(func.count())
        .select_from(QUESTIONS)
        .where(QUESTIONS.c.category_id == category_id)
        .scalar_subquery()
    )


class QuestionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def newest(self) -> Question | None:
        """The question with the largest id, i.e. the last one stored."""
        statement = select(Question).order_by(Question.id.desc()).limit(1)
        return (await self._session.scalars(statement)).first()

    async def get(self, question_id: int) -> Question | None:
        return await self._session.get(Question, question_id)

    async def stored_upstream_ids(self, source: str, upstream_ids: Sequence[str]) -> set[str]:
        """Which of ``upstream_ids`` are stored already: an index lookup on the unique
        (source, upstream_id), one SELECT per ``LOOKUP_CHUNK`` ids (bind parameter limits)."""
        found: set[str] = set()
        for start in range(0, len(upstream_ids), LOOKUP_CHUNK):
            chunk = upstream_ids[start : start + LOOKUP_CHUNK]
            statement = select(Question.upstream_id).where(
                Question.source == source, Question.upstream_id.in_(chunk)
            )
            found.update((await self._session.scalars(statement)).all())
        return found

    async def insert_new(
        self,
        source: str,
        questions: Sequence[UpstreamQuestion],
        *,
        saved_at: datetime,
        request_id: str | None,
    ) -> Counter[int]:
        """Inserts the questions not stored yet; returns how many went in, by category id.

        ``ON CONFLICT DO NOTHING`` on (source, upstream_id): a row another request stored a
        moment ago is skipped by the database instead of raising, so concurrent ingestions
        never fail on, nor store, a duplicate. Duplicates = sent - returned.

        Rows go in sorted by upstream id: on PostgreSQL an insert that meets another
        transaction's uncommitted key waits for it, so two requests inserting overlapping keys
        in opposite orders would deadlock. (length, text) orders decimal ids numerically.

        Only the new ids come back: returning whole rows would ship every raw JSON document
        back, decode it and build an ORM object per row, which cost more than the insert.

        Categories. Every question gets the category row of its title, created here when
        new (titles sorted, questions sorted: one lock order for every ingestion, so they
        can wait on each other but never deadlock). Their ``clues_count`` is not touched
        here: the caller recounts the returned categories (``recount_clues``).
        """
        if not questions:
            return Counter()
        category_ids = await self._category_ids({category_title(q) for q in questions}, saved_at)
        ordered = sorted(questions, key=lambda q: (len(q.upstream_id), q.upstream_id))
        rows = [
            _row(source, question, saved_at, request_id, category_ids[category_title(question)])
            for question in ordered
        ]
        statement = (
            self._insert(QUESTIONS)
            .on_conflict_do_nothing(index_elements=["source", "upstream_id"])
            .returning(QUESTIONS.c.category_id)
        )
        # Parameters as a list, not .values(): SQLAlchemy's "insertmanyvalues" then batches
        # them into multi-row INSERTs under each driver's parameter limit, from a statement
        # compiled once (about ten times faster than a fresh 100-row VALUES each call).
        return Counter((await self._session.execute(statement, rows)).scalars())

    async def _category_ids(self, titles: set[str], now: datetime) -> dict[str, int]:
        """The id of each title's category, creating the missing ones (sorted: lock order)."""
        ordered = sorted(titles)
        statement = self._insert(CATEGORIES).on_conflict_do_nothing(index_elements=["title"])
        await self._session.execute(
            statement,
            [{"title": title, "created_at": now, "updated_at": now} for title in ordered],
        )
        found = await self._session.execute(
            select(Category.title, Category.id).where(Category.title.in_(ordered))
        )
        return {title: category_id for title, category_id in found}

    async def recount_clues(self, category_ids: Iterable[int] | None, *, now: datetime) -> None:
        """Sets ``clues_count`` of these categories (None: of every category whose count is
        off) to the number of their stored questions.

        A count, not an increment: it is derived data, run in its own transaction after the
        questions' commit (see ``QuizService``), and a count is right whatever happened
        before — a crash between the two commits, or two recounts racing, leaves a value the
        next recount of that category (its next store, or the next start) corrects.

        One UPDATE per category, in id order: every recount takes the rows' locks in the same
        order, so concurrent ones wait for each other but never deadlock (one UPDATE over an
        id list would lock them in whatever order its plan reads the table).
        """
        table = CATEGORIES
        if category_ids is None:
            found = await self._session.execute(
                select(table.c.id).where(table.c.clues_count != _clue_count(table.c.id))
            )
            category_ids = found.scalars()
        params = [{"category": category_id} for category_id in sorted(set(category_ids))]
        if not params:
            return
        statement = (
            update(table)
            .where(table.c.id == bindparam("category"))
            .values(clues_count=_clue_count(bindparam("category")), updated_at=now)
        )
        # On the connection: the session would take a Core UPDATE with a parameter list
        # for the ORM's "bulk UPDATE by primary key", which this is not.
        connection = await self._session.connection()
        await connection.execute(statement, params)

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        # The Core table, not the ORM entity: the ORM's bulk-insert layer adds nothing here.
        if self._session.get_bind().dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


def category_title(question: UpstreamQuestion) -> str:
    """The category a question is filed under: its title, or "" when it has none."""
    return question.category or ""


def _row(
    source: str,
    question: UpstreamQuestion,
    saved_at: datetime,
    request_id: str | None,
    category_id: int,
) -> dict[str, Any]:
    return {
        "category_id": category_id,
        "source": source,
        "upstream_id": question.upstream_id,
        "question": question.question,
        "answer": question.answer,
        "raw_question": question.raw_question,
        "raw_answer": question.raw_answer,
        "category": question.category,
        "value": question.value,
        "airdate": question.airdate,
        "created_at": question.created_at,
        "saved_at": saved_at,
        "request_id": request_id,
        "raw": question.raw,
    }
