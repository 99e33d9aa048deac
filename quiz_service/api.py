"""Routes of the quiz service: HTTP in and out only; the work is in ``service.QuizService``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.exceptions import RequestValidationError

from quiz_service.filters import QuestionFilter, search_words
from quiz_service.resources import QuizResources
from quiz_service.schemas import (
    MAX_ID,
    NoQuestion,
    QuestionDetail,
    QuestionOut,
    QuestionPage,
    QuizRequest,
)
from quiz_service.settings import QuizSettings
from quiz_service.upstream import IngestionFilter
from shared.openapi import SchemaEdit
from shared.problems import problem_responses
from shared.request_id import current_request_id
from shared.resources import resources_dependency

MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 200
MAX_VALUE = 2**31 - 1

router = APIRouter(prefix="/quiz", tags=["quiz"])

Resources = Annotated[QuizResources, Depends(resources_dependency(QuizResources))]


def document_settings(settings: QuizSettings) -> SchemaEdit:
    """Writes the configured QUIZ_MAX_QUESTIONS_NUM into the request schema."""

    def edit(schema: dict[str, Any]) -> None:
        request = schema["components"]["schemas"]["QuizRequest"]
        request["properties"]["questions_num"]["maximum"] = settings.max_questions_num

    return edit


@router.post(
    "",
    summary="Store N new questions; answer with the one stored before them",
    description=(
        "Fetches questions from the configured upstream until `questions_num` **new** ones "
        "are stored (repeats are skipped and fetched again), then answers with the question "
        "that was the newest before this request stored any, or `{}` if there was none. "
        "On 502/503/504 the problem body gives `requested` and `stored`; what was stored "
        "stays stored."
    ),
    response_model=QuestionOut | NoQuestion,
    responses={
        200: {"description": "The previously newest question, or `{}`"},
        **problem_responses(422, 502, 503, 504),
    },
)
async def create_quiz(body: QuizRequest, resources: Resources) -> QuestionOut | NoQuestion:
    maximum = resources.settings.max_questions_num
    if body.questions_num > maximum:
        # The bound is a setting, so it cannot live in the static schema; same 422 shape.
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "questions_num"),
                    "msg": f"Input should be less than or equal to {maximum}",
                    "input": body.questions_num,
                    "ctx": {"le": maximum},
                }
            ]
        )
    ingestion_filter = IngestionFilter(
        category=body.category, difficulty=body.difficulty, value=body.value
    )
    _check_filters(ingestion_filter, resources)
    result = await resources.quiz.ingest(
        body.questions_num,
        request_id=current_request_id(),
        ingestion_filter=ingestion_filter,
    )
    if result.previous is None:
        return NoQuestion()
    return QuestionOut.model_validate(result.previous)


OPENTDB_CATEGORIES = range(9, 33)
"""Open Trivia DB's category ids (api_category.php lists them)."""


def _check_filters(ingestion_filter: IngestionFilter, resources: QuizResources) -> None:
    """422 for a filter the configured provider cannot honour, in the schema's error shape
    (the provider is a setting, so the static schema cannot say it)."""
    provider = resources.settings.provider
    supported = resources.quiz.supported_filters
    errors: list[dict[str, Any]] = []
    for name, value in ingestion_filter.asked().items():
        if name not in supported:
            errors.append(
                {
                    "type": "value_error",
                    "loc": ("body", name),
                    "msg": f"Value error, the {provider} upstream cannot filter by {name}",
                    "input": value,
                }
            )
    category = ingestion_filter.category
    if provider == "opentdb" and category is not None and category not in OPENTDB_CATEGORIES:
        errors.append(
            {
                "type": "value_error",
                "loc": ("body", "category"),
                "msg": "Value error, Open Trivia DB's categories are 9 to 32",
                "input": category,
            }
        )
    if errors:
        raise RequestValidationError(errors)


@router.get(
    "/questions",
    summary="Stored questions, newest first (keyset pagination), searched and filtered",
    description=(
        "Every filter is optional and they combine (AND). `q` is full-text search: a question "
        "matches when its question, answer or category contains every word of `q` (whole "
        "words, case-insensitive, no stemming; punctuation separates words). Pass the "
        "answer's `next_before_id` as `before_id` with the same filters for the next page."
    ),
    responses=problem_responses(422),
)
async def list_questions(
    resources: Resources,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")] = 20,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only questions with a smaller id (next_before_id)"),
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_QUERY_LENGTH, description="Words to search for"),
    ] = None,
    category: Annotated[
        str | None,
        # No NUL: PostgreSQL text cannot hold one, and the query would fail instead of 422.
        Query(max_length=MAX_QUERY_LENGTH, pattern=r"^[^\x00]*$", description="Category title"),
    ] = None,
    source: Annotated[
        Literal["jservice", "opentdb"] | None, Query(description="The provider")
    ] = None,
    min_value: Annotated[int | None, Query(ge=0, le=MAX_VALUE)] = None,
    max_value: Annotated[int | None, Query(ge=0, le=MAX_VALUE)] = None,
    airdate_from: Annotated[date | None, Query(description="Aired on or after")] = None,
    airdate_to: Annotated[date | None, Query(description="Aired on or before")] = None,
) -> QuestionPage:
    words = search_words(q) if q is not None else []
    if q is not None and not words:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "q"),
                    "msg": "Value error, q holds no word (letters or digits) to search for",
                    "input": q,
                }
            ]
        )
    question_filter = QuestionFilter(
        words=tuple(words),
        category=category,
        source=source,
        min_value=min_value,
        max_value=max_value,
        airdate_from=airdate_from,
        airdate_to=airdate_to,
    )
    page = await resources.bank.questions(question_filter, limit=limit, before_id=before_id)
    return QuestionPage(
        items=[QuestionOut.model_validate(row) for row in page.questions],
        next_before_id=page.next_before_id,
    )


@router.get(
    "/questions/{question_id}",
    summary="One stored question, with the raw upstream item",
    responses=problem_responses(404, 422),
)
async def get_question(
    resources: Resources, question_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> QuestionDetail:
    return QuestionDetail.model_validate(await resources.quiz.question(question_id))
