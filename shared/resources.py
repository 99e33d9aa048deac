"""What a service's lifespan opens, and the one way a route reaches it.

Each service defines one frozen dataclass of its resources (``QuizResources``,
``AudioResources``) with at least ``settings`` and ``database``, builds it in its lifespan
(``create_service_app(open_resources=...)``), and ``app.state.resources`` holds it; nothing
else goes on ``app.state``. Routes take it through ``resources_dependency(TheClass)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from starlette.requests import Request

from shared.db import Database
from shared.settings import ServiceSettings


class ServiceResources(Protocol):
    @property
    def settings(self) -> ServiceSettings: ...

    @property
    def database(self) -> Database: ...


R = TypeVar("R", bound=ServiceResources)


def get_resources(request: Request) -> ServiceResources:
    resources: ServiceResources = request.app.state.resources
    return resources


def resources_dependency(kind: type[R]) -> Callable[[Request], R]:
    """A FastAPI dependency returning the app's resources as ``kind``."""

    def dependency(request: Request) -> R:
        resources = request.app.state.resources
        if not isinstance(resources, kind):
            raise TypeError(f"the app's resources are {type(resources).__name__}, not {kind}")
        return resources

    return dependency
