"""The audio service's ASGI app factory (`uvicorn --factory audio_service.main:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from audio_service.settings import AudioSettings
from shared.app import create_service_app


def create_app(settings: AudioSettings | None = None) -> FastAPI:
    return create_service_app(
        name="audio_service",
        title="Audio service",
        description="TODO",
        version="0.1.0",
        settings=settings or AudioSettings(),
        routers=[],
    )
