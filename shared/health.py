"""Liveness (no I/O) and readiness (the database answers) endpoints."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from shared.db import get_database
from shared.errors import ServiceUnavailable
from shared.problems import is_database_unavailable, problem_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"]


@router.get("/health", summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


@router.get("/ready", summary="Readiness: the database answers", responses=problem_responses(503))
async def ready(request: Request) -> Readiness:
    timeout_s: float = request.app.state.settings.db_connect_timeout_s
    try:
        await get_database(request).ping(timeout_s)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        raise ServiceUnavailable("The database does not answer.", check="database") from exc
    return Readiness(status="ready", database="ok")
