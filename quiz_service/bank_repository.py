"""All SQL of the question bank: the jService-compatible reads, search, categories, stats.

Read only; the ingestion's writes (categories included) are in ``repository``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, Select, column, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from quiz_service.filters import ClueFilter, QuestionFilter
from quiz_service.models import Category, Question

JSERVICE_SOURCE = "jservice"


@dataclass(frozen=True, slots=True)
class SourceCount:
    source: str
    questions: int


class BankRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def _postgres(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    # -- the jService-compatible API -------------------------------------------------------

    async def id_bounds(self) -> tuple[int, int] | None:
        """The smallest and largest question id (two index endpoint reads); None if empty."""
        low, high = (
            await self._session.execute(select(func.min(Question.id), func.max(Question.id)))
        ).one()
        return None if low is None or high is None else (low, high)

    async def existing_ids(self, ids: Sequence[int]) -> set[int]:
        statement = select(Question.id).where(Question.id.in_(ids))
        return set((await self._session.scalars(statement)).all())

    async def random_ids(
        self, count: int, *, final: bool, exclude: Sequence[int] = ()
    ) -> list[int]:
        """``ORDER BY random()``, jService's own query: for final clues (few rows, and no
        dense id range to sample from) and to fill what id sampling missed."""
        statement = select(Question.id).order_by(func.random()).limit(count)
        if final:
            statement = statement.where(
                Question.value.is_(None), Question.source == JSERVICE_SOURCE
            )
        if exclude:
            statement = statement.where(Question.id.not_in(exclude))
        return list((await self._session.scalars(statement)).all())

    async def clues_by_id(self, ids: Sequence[int]) -> list[tuple[Question, Category]]:
        """The questions with these ids and their categories, in the order of ``ids``."""
        if not ids:
            return []
        rows = await self._session.execute(_with_category().where(Question.id.in_(ids)))
        found = {question.id: (question, category) for question, category in rows}
        return [found[question_id] for question_id in ids if question_id in found]

    async def clues(
        self, clue_filter: ClueFilter, *, limit: int, offset: int
    ) -> list[tuple[Question, Category]]:
        statement = _with_category().order_by(Question.id).limit(limit).offset(offset)
        for condition in _clue_conditions(clue_filter):
            statement = statement.where(condition)
        return [
            (question, category) for question, category in await self._session.execute(statement)
        ]

    async def categories(self, *, limit: int, offset: int) -> list[Category]:
        statement = select(Category).order_by(Category.id).limit(limit).offset(offset)
        return list((await self._session.scalars(statement)).all())

    async def category(self, category_id: int) -> Category | None:
        return await self._session.get(Category, category_id)

    async def category_questions(self, category_id: int) -> list[Question]:
        statement = (
            select(Question).where(Question.category_id == category_id).order_by(Question.id)
        )
        return list((await self._session.scalars(statement)).all())

    # -- our own API ------------------------------------------------------------------------

    async def search(
        self, question_filter: QuestionFilter, *, limit: int, before_id: int | None
    ) -> list[Question]:
        """Newest first, keyset-paginated on the id like the unfiltered list; each filter is
        served by a (filter, id) index, the words by the full-text index."""
        statement = search_statement(question_filter, postgres=self._postgres, limit=limit)
        if before_id is not None:
            statement = statement.where(Question.id < before_id)
        return list((await self._session.scalars(statement)).all())

    async def categories_by_size(self, *, limit: int, offset: int) -> list[Category]:
        """Largest first; only categories that hold questions."""
        statement = (
            select(Category)
            .where(Category.clues_count > 0)
            .order_by(Category.clues_count.desc(), Category.id)
            .limit(limit)
            .offset(offset)
        )
        return list((await self._session.scalars(statement)).all())

    async def category_total(self) -> int:
        statement = select(func.count()).select_from(Category).where(Category.clues_count > 0)
        return int(await self._session.scalar(statement) or 0)

    async def counts_by_source(self) -> list[SourceCount]:
        statement = (
            select(Question.source, func.count())
            .group_by(Question.source)
            .order_by(Question.source)
        )
        return [SourceCount(source, n) for source, n in await self._session.execute(statement)]

    async def end(self, *, newest: bool) -> Question | None:
        """The question stored last (``newest``) or first."""
        order = Question.id.desc() if newest else Question.id
        return (await self._session.scalars(select(Question).order_by(order).limit(1))).first()


def _with_category() -> Select[Question, Category]:
    return select(Question, Category).join(Category, Question.category_id == Category.id)


def _clue_conditions(clue_filter: ClueFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if clue_filter.value is not None:
        conditions.append(Question.value == clue_filter.value)
    if clue_filter.category_id is not None:
        conditions.append(Question.category_id == clue_filter.category_id)
    low, high = clue_filter.min_date, clue_filter.max_date
    if low is not None and high is not None:
        conditions.append(Question.airdate.between(low, high))
    elif low is not None:
        conditions.append(Question.airdate > low)
    elif high is not None:
        conditions.append(Question.airdate < high)
    return conditions


def search_statement(
    question_filter: QuestionFilter, *, postgres: bool, limit: int
) -> Select[Question]:
    """The SELECT of one page of ``GET /quiz/questions`` (also what ``make bench`` EXPLAINs)."""
    statement = select(Question).order_by(Question.id.desc()).limit(limit)
    f = question_filter
    if f.words:
        statement = statement.where(_matches(f.words, postgres=postgres))
    if f.category is not None:
        category_id = select(Category.id).where(Category.title == f.category).scalar_subquery()
        statement = statement.where(Question.category_id == category_id)
    if f.source is not None:
        statement = statement.where(Question.source == f.source)
    if f.min_value is not None:
        statement = statement.where(Question.value >= f.min_value)
    if f.max_value is not None:
        statement = statement.where(Question.value <= f.max_value)
    if f.airdate_from is not None:
        statement = statement.where(Question.airdate >= f.airdate_from)
    if f.airdate_to is not None:
        statement = statement.where(Question.airdate <= f.airdate_to)
    return statement


def _matches(words: Sequence[str], *, postgres: bool) -> ColumnElement[bool]:
    """Every word in the question, answer or category. The words are runs of letters and
    digits (``filters.search_words``), so neither query syntax can be injected through them;
    they are bound parameters all the same."""
    if postgres:
        query = func.plainto_tsquery(literal_column("'simple'::regconfig"), " ".join(words))
        return Question.search.bool_op("@@")(query)
    # FTS5: quoted strings side by side are an AND of whole tokens, in any column.
    fts = text("SELECT rowid FROM questions_fts WHERE questions_fts MATCH :fts").bindparams(
        fts=" ".join(f'"{word}"' for word in words)
    )
    return Question.id.in_(fts.columns(column("rowid", Integer)))
