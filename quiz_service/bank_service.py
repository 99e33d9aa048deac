"""The question bank: reads of what the ingestion stored (jService-compatible and our own).

Every method reads in one short ``unit_of_work`` and writes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from quiz_service.bank_repository import BankRepository, SourceCount
from quiz_service.filters import ClueFilter, QuestionFilter
from quiz_service.models import Category, Question
from quiz_service.service import QuestionsPage
from shared.db import Database
from shared.errors import NotFound

SAMPLING_ROUNDS = 3
"""Rounds of random id guesses before ``random`` falls back to ``ORDER BY random()``."""

TOP_CATEGORIES = 20


@dataclass(frozen=True, slots=True)
class Stats:
    questions: int
    by_source: list[SourceCount]
    categories: int
    top_categories: list[Category]
    newest: Question | None
    oldest: Question | None


class BankService:
    def __init__(self, database: Database, rng: random.Random | None = None) -> None:
        self._database = database
        # Not for secrets: which clues a random draw shows.
        self._rng = rng or random.Random()

    async def random(self, count: int, *, final: bool = False) -> list[tuple[Question, Category]]:
        """``count`` distinct random questions (fewer if fewer are stored).

        jService ran ``ORDER BY RANDOM() LIMIT n``, which reads the whole table. Ids come from
        a sequence and are rarely deleted, so guessing ids between the smallest and the
        largest finds almost all of them with a few index lookups; whatever guessing misses
        (a table with holes, or smaller than ``count``) comes from ``ORDER BY random()``.
        Final clues (null value) are few and scattered: they use ``ORDER BY random()``.
        """
        if count <= 0:
            return []
        async with self._database.unit_of_work() as session:
            repository = BankRepository(session)
            if final:
                ids = await repository.random_ids(count, final=True)
            else:
                ids = await self._sampled_ids(repository, count)
            return await repository.clues_by_id(ids)

    async def _sampled_ids(self, repository: BankRepository, count: int) -> list[int]:
        bounds = await repository.id_bounds()
        if bounds is None:
            return []
        low, high = bounds
        found: list[int] = []
        for _ in range(SAMPLING_ROUNDS):
            missing = count - len(found)
            if missing <= 0:
                break
            span = range(low, high + 1)
            taken = set(found)
            guesses = [
                guess
                for guess in self._rng.sample(span, min(len(span), 2 * missing))
                if guess not in taken
            ]
            existing = await repository.existing_ids(guesses)
            found += [guess for guess in guesses if guess in existing][:missing]
        if len(found) < count:
            found += await repository.random_ids(count - len(found), final=False, exclude=found)
        return found

    async def clues(
        self, clue_filter: ClueFilter, *, limit: int, offset: int
    ) -> list[tuple[Question, Category]]:
        async with self._database.unit_of_work() as session:
            return await BankRepository(session).clues(clue_filter, limit=limit, offset=offset)

    async def categories(self, *, limit: int, offset: int) -> list[Category]:
        async with self._database.unit_of_work() as session:
            return await BankRepository(session).categories(limit=limit, offset=offset)

    async def category(self, category_id: int) -> tuple[Category, list[Question]]:
        async with self._database.unit_of_work() as session:
            repository = BankRepository(session)
            found = await repository.category(category_id)
            if found is None:
                raise NotFound(f"No category with id {category_id}.")
            return found, await repository.category_questions(category_id)

    async def questions(
        self, question_filter: QuestionFilter, *, limit: int, before_id: int | None
    ) -> QuestionsPage:
        async with self._database.unit_of_work() as session:
            rows = await BankRepository(session).search(
                question_filter, limit=limit + 1, before_id=before_id
            )
        # One extra row tells whether another page exists without a COUNT.
        more = len(rows) > limit
        return QuestionsPage(rows[:limit], rows[limit - 1].id if more else None)

    async def categories_by_size(self, *, limit: int, offset: int) -> tuple[list[Category], int]:
        async with self._database.unit_of_work() as session:
            repository = BankRepository(session)
            rows = await repository.categories_by_size(limit=limit, offset=offset)
            return rows, await repository.category_total()

    async def stats(self) -> Stats:
        async with self._database.unit_of_work() as session:
            repository = BankRepository(session)
            by_source = await repository.counts_by_source()
            return Stats(
                questions=sum(count.questions for count in by_source),
                by_source=by_source,
                categories=await repository.category_total(),
                top_categories=await repository.categories_by_size(limit=TOP_CATEGORIES, offset=0),
                newest=await repository.end(newest=True),
                oldest=await repository.end(newest=False),
            )
