"""All SQL of the quiz service. Functions here flush at most; callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from quiz_service.models import Question
from quiz_service.upstream import UpstreamQuestion


class QuestionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def newest(self) -> Question | None:
        """The question with the largest id, i.e. the last one stored."""
        statement = select(Question).order_by(Question.id.desc()).limit(1)
        return (await self._session.scalars(statement)).first()

    async def get(self, question_id: int) -> Question | None:
        return await self._session.get(Question, question_id)

    async def page(self, *, limit: int, before_id: int | None) -> list[Question]:
        """Newest first; keyset pagination on the primary key, so every page is an index
        range scan however deep the client pages."""
        statement = select(Question).order_by(Question.id.desc()).limit(limit)
        if before_id is not None:
            statement = statement.where(Question.id < before_id)
        return list((await self._session.scalars(statement)).all())

    async def insert_new(
        self,
        source: str,
        questions: Sequence[UpstreamQuestion],
        *,
        saved_at: datetime,
        request_id: str | None,
    ) -> list[Question]:
        """Inserts the questions not stored yet and returns exactly those, in id order.

        ``ON CONFLICT DO NOTHING`` on (source, upstream_id): a row another request stored a
        moment ago is skipped by the database instead of raising, so concurrent ingestions
        never fail on, nor store, a duplicate. Duplicates = sent - returned.

        Rows go in sorted by upstream id: on PostgreSQL an insert that meets another
        transaction's uncommitted key waits for it, so two requests inserting overlapping keys
        in opposite orders would deadlock. (length, text) orders decimal ids numerically.
        """
        ordered = sorted(questions, key=lambda q: (len(q.upstream_id), q.upstream_id))
        rows = [_row(source, question, saved_at, request_id) for question in ordered]
        if not rows:
            return []
        statement = (
            self._insert()
            .on_conflict_do_nothing(index_elements=["source", "upstream_id"])
            .returning(Question)
        )
        # Parameters as a list, not .values(): SQLAlchemy's "insertmanyvalues" then batches
        # them into multi-row INSERTs under each driver's parameter limit, from a statement
        # compiled once (about ten times faster than a fresh 100-row VALUES each call).
        stored = (await self._session.scalars(statement, rows)).all()
        return sorted(stored, key=lambda question: question.id)

    def _insert(self) -> postgresql.Insert | sqlite.Insert:
        if self._session.get_bind().dialect.name == "postgresql":
            return postgresql.insert(Question)
        return sqlite.insert(Question)


def _row(
    source: str, question: UpstreamQuestion, saved_at: datetime, request_id: str | None
) -> dict[str, Any]:
    return {
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
