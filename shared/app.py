"""Builds a service's FastAPI app: lifespan resources, errors, body limits, request context,
the docs pages (served offline, ``shared.docs``), metrics and, when its password is set, the
admin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry
from starlette_admin.views import BaseView

from shared import health
from shared.admin.site import mount_admin
from shared.body_limit import BodyLimitMiddleware, BodyLimits, BodyRate
from shared.db import Database
from shared.docs import install_docs
from shared.metrics import (
    HttpMetrics,
    MetricsMiddleware,
    PoolCollector,
    create_registry,
    metrics_router,
)
from shared.openapi import SchemaEdit, install_openapi
from shared.problems import install_problem_handlers, problem_responses
from shared.repeated_keys import refuse_repeated_keys
from shared.request_context import RequestContextMiddleware
from shared.resources import ServiceResources
from shared.settings import ServiceSettings

VERSION = "0.1.0"

OpenResources = Callable[[Database], AbstractAsyncContextManager[ServiceResources]]
# The admin's views of a service, given the way to its resources (there once it has started).
AdminViews = Callable[[Callable[[], ServiceResources]], Sequence[BaseView]]


def create_service_app(
    name: str,
    description: str,
    settings: ServiceSettings,
    router: APIRouter,
    open_resources: OpenResources,
    *,
    body_limits: BodyLimits | None = None,
    openapi_edits: Sequence[SchemaEdit] = (),
    admin_views: AdminViews | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The app of the service ``name`` ("quiz_service"), titled "Quiz service".

    ``open_resources(database)`` opens what the service needs besides its database (HTTP
    clients, worker pools, staging) and yields its resources object. ``admin_views`` are
    served at ``/admin/<quiz|audio>/`` when the settings have an admin password hash.
    ``registry`` holds the service's own metrics (``shared.metrics``); with ``*_METRICS=off``
    nothing serves it and no request is measured.
    """
    metrics_on = settings.metrics == "on"
    registry = registry or create_registry()
    # Made here, not in the lifespan, because the admin's views are bound to its sessions when
    # the app is built; the engine connects on first use only, and the lifespan disposes it.
    database = Database.from_settings(settings, application_name=name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = PoolCollector(database)
        if metrics_on:
            registry.register(pool)
        try:
            async with open_resources(database) as resources:
                app.state.resources = resources
                yield
        finally:
            if metrics_on:
                registry.unregister(pool)
            await database.dispose()

    app = FastAPI(
        title=name.replace("_", " ").capitalize(),
        description=description,
        version=VERSION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses=problem_responses(500),
        dependencies=[Depends(refuse_repeated_keys)],
    )
    install_problem_handlers(app)
    install_openapi(app, openapi_edits)
    # Starlette runs the middleware added last first: the request context wraps everything,
    # then the metrics (inside it, so they see the scope the router fills in).
    rate = BodyRate(settings.body_min_rate_bytes_s, settings.body_grace_s)
    app.add_middleware(BodyLimitMiddleware, limits=body_limits or BodyLimits(), rate=rate)
    if metrics_on:
        app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    app.add_middleware(RequestContextMiddleware)
    install_docs(app)
    app.include_router(health.router)
    if metrics_on:
        app.include_router(metrics_router(registry))
    app.include_router(router)
    if admin_views is not None and settings.admin_enabled:
        short_name = name.removesuffix("_service")
        mount_admin(
            app,
            short_name=short_name,
            title=f"{short_name.capitalize()} admin",
            settings=settings,
            database=database,
            views=admin_views(lambda: app.state.resources),
        )
    return app
