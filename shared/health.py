"""Liveness (no I/O) and readiness (the database answers) endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from shared.errors import DatabaseUnavailable, ServiceUnavailable
from shared.problems import problem_responses
from shared.resources import ServiceResources, get_resources

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
async def ready(resources: Annotated[ServiceResources, Depends(get_resources)]) -> Readiness:
    try:
        await resources.database.ping(resources.settings.db_connect_timeout_s)
    except DatabaseUnavailable as exc:
        raise ServiceUnavailable("The database does not answer.", check="database") from exc
    return Readiness(status="ready", database="ok")
