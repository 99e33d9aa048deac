"""The quiz service's ASGI app factory (`uvicorn --factory quiz_service.main:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from quiz_service.settings import QuizSettings
from shared.app import create_service_app


def create_app(settings: QuizSettings | None = None) -> FastAPI:
    return create_service_app(
        name="quiz_service",
        title="Quiz service",
        description="TODO",
        version="0.1.0",
        settings=settings or QuizSettings(),
        routers=[],
    )
