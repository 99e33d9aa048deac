"""Routes of the quiz service. HTTP only: the work happens in ``service.QuizService``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from quiz_service.repository import QuestionRepository
from quiz_service.schemas import (
    MAX_ID,
    NoQuestion,
    QuestionDetail,
    QuestionOut,
    QuestionPage,
    QuizRequest,
)
from quiz_service.service import QuizService
from quiz_service.settings import QuizSettings
from shared.db import DbSession
from shared.errors import NotFound
from shared.problems import problem_responses
from shared.request_context import current_request_id

MAX_PAGE_SIZE = 100

router = APIRouter(prefix="/quiz", tags=["quiz"])


def _quiz_service(request: Request) -> QuizService:
    service: QuizService = request.app.state.quiz_service
    return service


def _settings(request: Request) -> QuizSettings:
    settings: QuizSettings = request.app.state.settings
    return settings


QuizServiceDep = Annotated[QuizService, Depends(_quiz_service)]
SettingsDep = Annotated[QuizSettings, Depends(_settings)]


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
async def create_quiz(
    body: QuizRequest, service: QuizServiceDep, settings: SettingsDep
) -> QuestionOut | NoQuestion:
    if body.questions_num > settings.max_questions_num:
        # The bound is a setting, so it cannot live in the static schema; same 422 shape.
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "questions_num"),
                    "msg": f"Input should be less than or equal to {settings.max_questions_num}",
                    "input": body.questions_num,
                    "ctx": {"le": settings.max_questions_num},
                }
            ]
        )
    result = await service.ingest(body.questions_num, request_id=current_request_id())
    if result.previous is None:
        return NoQuestion()
    return QuestionOut.model_validate(result.previous)


@router.get(
    "/questions",
    summary="Stored questions, newest first (keyset pagination)",
    responses=problem_responses(422),
)
async def list_questions(
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")] = 20,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only questions with a smaller id (next_before_id)"),
    ] = None,
) -> QuestionPage:
    rows = await QuestionRepository(session).page(limit=limit + 1, before_id=before_id)
    items = [QuestionOut.model_validate(row) for row in rows[:limit]]
    # One extra row tells whether another page exists without a COUNT.
    next_before_id = items[-1].id if len(rows) > limit else None
    return QuestionPage(items=items, next_before_id=next_before_id)


@router.get(
    "/questions/{question_id}",
    summary="One stored question, with the raw upstream item",
    responses=problem_responses(404, 422),
)
async def get_question(
    session: DbSession, question_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> QuestionDetail:
    question = await QuestionRepository(session).get(question_id)
    if question is None:
        raise NotFound(f"No question with id {question_id}.")
    return QuestionDetail.model_validate(question)
