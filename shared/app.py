"""Builds a service's FastAPI app: lifespan-owned database, problem errors, request context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI

from shared import health
from shared.db import Database
from shared.problems import install_problem_handlers, problem_responses, register_problem_schema
from shared.request_context import RequestContextMiddleware
from shared.settings import ServiceSettings

LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    version: str,
    settings: ServiceSettings,
    routers: Iterable[APIRouter],
    lifespan_hook: LifespanHook | None = None,
) -> FastAPI:
    """``lifespan_hook`` opens what the service adds (HTTP clients, pools) after the database."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(settings, application_name=name)
        app.state.settings = settings
        app.state.database = database
        try:
            if lifespan_hook is None:
                yield
            else:
                async with lifespan_hook(app):
                    yield
        finally:
            await database.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        responses=problem_responses(500),
    )
    install_problem_handlers(app)
    register_problem_schema(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    for router in routers:
        app.include_router(router)
    return app
