"""The quiz service's ASGI app factory (`uvicorn --factory quiz_service.main:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from quiz_service import api
from quiz_service.service import IngestionLimits, QuizService
from quiz_service.settings import QuizSettings
from quiz_service.upstream import create_http_client, create_provider
from shared.app import create_service_app
from shared.db import Database

DESCRIPTION = """\
Stores unique quiz questions fetched from a jservice-compatible API (or Open Trivia DB).

`POST /quiz` with `{"questions_num": N}` stores N **new** questions and answers with the
question that was stored before them (`{}` when there was none). Errors are
`application/problem+json`.
"""


def create_app(settings: QuizSettings | None = None) -> FastAPI:
    settings = settings or QuizSettings()

    @asynccontextmanager
    async def lifespan_hook(app: FastAPI) -> AsyncIterator[None]:
        # One client for the process: its connection pool is what makes upstream calls cheap.
        async with create_http_client(settings) as client:
            database: Database = app.state.database
            app.state.upstream_client = client
            app.state.quiz_service = QuizService(
                database.sessionmaker,
                create_provider(settings, client),
                IngestionLimits(
                    deadline_s=settings.request_deadline_s,
                    max_rounds=settings.max_fetch_rounds,
                    max_calls_per_round=settings.max_calls_per_round,
                ),
            )
            yield

    app = create_service_app(
        name="quiz_service",
        title="Quiz service",
        description=DESCRIPTION,
        version="0.1.0",
        settings=settings,
        routers=[api.router],
        lifespan_hook=lifespan_hook,
    )
    app.openapi = _with_questions_num_maximum(app, settings.max_questions_num)  # type: ignore[method-assign]
    return app


def _with_questions_num_maximum(app: FastAPI, maximum: int) -> Callable[[], dict[str, Any]]:
    """Documents the configured maximum, which a static pydantic schema cannot know."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI after the first call; the patch is idempotent
        schema["components"]["schemas"]["QuizRequest"]["properties"]["questions_num"]["maximum"] = (
            maximum
        )
        return schema

    return openapi
