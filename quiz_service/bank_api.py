"""Routes of the question bank: the jService-compatible API and our categories and stats.

``/quiz/api/*`` keeps jService's paths, parameters, defaults, caps and field names (see the
open-source sottenad/jService ``api_controller``): ``count`` defaults to 1 and is silently
lowered to 100, ``/api/clues`` pages by 100 with ``offset``, ``/api/categories`` lists
categories without their timestamps, ``/api/category`` gives a category with its clues.
Where jService answered 500 (a non-integer or negative ``count``, a bad date) or an HTML
404, these answer a 422 or 404 problem+json saying what is wrong.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator, WithJsonSchema

from quiz_service import jservice_items
from quiz_service.filters import ClueFilter
from quiz_service.resources import QuizResources
from quiz_service.schemas import (
    MAX_ID,
    BankStats,
    CategoryOut,
    CategoryPage,
    JServiceCategoryListed,
    JServiceCategoryWithClues,
    JServiceClue,
    QuestionOut,
    SourceTotal,
)
from shared.problems import problem_responses
from shared.resources import resources_dependency

JSERVICE_MAX_COUNT = 100
"""jService lowered larger counts to this, silently."""
JSERVICE_PAGE = 100
"""Clues per /api/clues page."""
MAX_CATEGORY_PAGE = 100

router = APIRouter(prefix="/quiz")

Resources = Annotated[QuizResources, Depends(resources_dependency(QuizResources))]


def _a_date(value: Any) -> Any:
    # jService read dates with Chronic, so clients send dates and full timestamps alike
    # (often the airdate of a clue they hold): both mean that day.
    if isinstance(value, str) and len(value) > len("2000-01-01"):
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            return value
    return value


LenientDate = Annotated[
    date,
    BeforeValidator(_a_date),
    # Not "format: date": a timestamp is accepted too, and the schema must not say otherwise.
    WithJsonSchema({"type": "string", "examples": ["1985-02-08", "1985-02-08T12:00:00.000Z"]}),
]

Count = Annotated[
    int,
    Query(ge=0, description="How many, default 1; above 100 silently lowered to 100"),
]


@router.get(
    "/api/random",
    tags=["jService-compatible"],
    summary="Random clues (jService /api/random)",
    responses=problem_responses(422),
)
async def jservice_random(resources: Resources, count: Count = 1) -> list[JServiceClue]:
    rows = await resources.bank.random(min(count, JSERVICE_MAX_COUNT))
    return [jservice_items.clue(question, category) for question, category in rows]


@router.get(
    "/api/final",
    tags=["jService-compatible"],
    summary="Random final-round clues, i.e. jservice clues without a value (jService /api/final)",
    responses=problem_responses(422),
)
async def jservice_final(resources: Resources, count: Count = 1) -> list[JServiceClue]:
    rows = await resources.bank.random(min(count, JSERVICE_MAX_COUNT), final=True)
    return [jservice_items.clue(question, category) for question, category in rows]


@router.get(
    "/api/clues",
    tags=["jService-compatible"],
    summary="Clues by value, category and air date, 100 a page by id (jService /api/clues)",
    description=(
        "With both `min_date` and `max_date` the air-date range is inclusive; with only one "
        "of them the comparison is strict (jService's own quirk). Dates are `YYYY-MM-DD` or "
        "an ISO 8601 timestamp (its day counts)."
    ),
    responses=problem_responses(422),
)
async def jservice_clues(
    resources: Resources,
    value: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="Dollar value")] = None,
    category: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Category id")] = None,
    min_date: Annotated[LenientDate | None, Query(description="Earliest air date")] = None,
    max_date: Annotated[LenientDate | None, Query(description="Latest air date")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Clues to skip")] = 0,
) -> list[JServiceClue]:
    clue_filter = ClueFilter(
        value=value, category_id=category, min_date=min_date, max_date=max_date
    )
    rows = await resources.bank.clues(clue_filter, limit=JSERVICE_PAGE, offset=offset)
    return [jservice_items.clue(question, row) for question, row in rows]


@router.get(
    "/api/categories",
    tags=["jService-compatible"],
    summary="Categories by id, without their timestamps (jService /api/categories)",
    responses=problem_responses(422),
)
async def jservice_categories(
    resources: Resources,
    count: Count = 1,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Categories to skip")] = 0,
) -> list[JServiceCategoryListed]:
    rows = await resources.bank.categories(limit=min(count, JSERVICE_MAX_COUNT), offset=offset)
    return [jservice_items.listed_category(row) for row in rows]


@router.get(
    "/api/category",
    tags=["jService-compatible"],
    summary="One category with all its clues (jService /api/category)",
    responses=problem_responses(404, 422),
)
async def jservice_category(
    resources: Resources,
    id: Annotated[int, Query(ge=1, le=MAX_ID, description="The category id")],
) -> JServiceCategoryWithClues:
    row, questions = await resources.bank.category(id)
    return jservice_items.category_with_clues(row, questions)


@router.get(
    "/categories",
    tags=["quiz"],
    summary="Categories that hold questions, largest first, with their counts",
    responses=problem_responses(422),
)
async def list_categories(
    resources: Resources,
    limit: Annotated[int, Query(ge=1, le=MAX_CATEGORY_PAGE, description="Page size")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Categories to skip")] = 0,
) -> CategoryPage:
    rows, total = await resources.bank.categories_by_size(limit=limit, offset=offset)
    return CategoryPage(items=[CategoryOut.model_validate(row) for row in rows], total=total)


@router.get("/stats", tags=["quiz"], summary="Totals by source and category; newest and oldest")
async def stats(resources: Resources) -> BankStats:
    found = await resources.bank.stats()
    return BankStats(
        questions=found.questions,
        by_source=[SourceTotal(source=s.source, questions=s.questions) for s in found.by_source],
        categories=found.categories,
        top_categories=[CategoryOut.model_validate(row) for row in found.top_categories],
        newest=None if found.newest is None else QuestionOut.model_validate(found.newest),
        oldest=None if found.oldest is None else QuestionOut.model_validate(found.oldest),
    )
