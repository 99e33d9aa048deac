"""The emulator's ASGI app."""

from __future__ import annotations

from fastapi import FastAPI

from jservice_emulator import api, control
from jservice_emulator.settings import EmulatorSettings
from jservice_emulator.state import EmulatorState


def create_app(settings: EmulatorSettings | None = None) -> FastAPI:
    """An emulator app; without ``settings`` they are read from ``EMULATOR_*`` env vars."""
    app = FastAPI(
        title="jservice emulator",
        summary="jservice-compatible /api/random with synthetic clues and fault injection",
    )
    app.state.emulator = EmulatorState(settings if settings is not None else EmulatorSettings())
    app.include_router(api.router)
    app.include_router(control.router)
    return app
