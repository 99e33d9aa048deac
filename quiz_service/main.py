"""The quiz service's ASGI app factory (`uvicorn --factory quiz_service.main:create_app`)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, FastAPI

from quiz_service import admin, api, bank_api
from quiz_service.metrics import QuizMetrics
from quiz_service.resources import open_resources
from quiz_service.settings import QuizSettings
from shared.app import create_service_app
from shared.metrics import create_registry

DESCRIPTION = """\
Stores unique quiz questions fetched from a jservice-compatible API (or Open Trivia DB).

`POST /quiz` with `{"questions_num": N}` stores N **new** questions and answers with the
question that was stored before them (`{}` when there was none). Errors are
`application/problem+json`.
"""


def create_app(settings: QuizSettings | None = None) -> FastAPI:
    settings = settings or QuizSettings()
    registry = create_registry()
    metrics = QuizMetrics(registry, provider=settings.provider)
    resources = partial(open_resources, settings, metrics)
    edits = [api.document_settings(settings)]
    router = APIRouter()
    router.include_router(api.router)
    router.include_router(bank_api.router)
    return create_service_app(
        "quiz_service",
        DESCRIPTION,
        settings,
        router,
        resources,
        openapi_edits=edits,
        admin_views=admin.admin_views,
        registry=registry,
    )
