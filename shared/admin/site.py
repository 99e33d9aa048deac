"""``mount_admin``: a service's starlette-admin site at ``/admin/<service>/``, behind a login.

The views read through starlette-admin's SQLAlchemy views, in a session of the service's own
``Database`` (one per request, committed or rolled back by starlette-admin; they only read:
``ReadOnlyView`` turns creating, editing, deleting and importing off). A view that writes
overrides the library's method and calls its service's method instead, so the admin's writes
follow the same rules as the API's (see ``audio_service.admin``).

Everything starlette-admin serves comes from its own wheel (its templates, scripts,
stylesheets and fonts, under ``/admin/<service>/static/``); the one thing its templates
fetch from elsewhere, the Inter web font, is left out by ``templates/base.html`` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette_admin.contrib.sqla import Admin, ModelView
from starlette_admin.i18n import TimezoneConfig
from starlette_admin.views import BaseView

from shared.admin.login import AdminCredentials, AdminLogin
from shared.admin.responses import AdminResponses
from shared.db import Database
from shared.settings import ServiceSettings

TEMPLATES = str(files("shared.admin") / "templates")
# Short, sortable dates (starlette-admin's default spells the month out).
DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STATIC = str(files("shared.admin") / "static")  # before starlette-admin's own static files


class ReadOnlyView(ModelView):
    """A table the admin shows and searches but never changes."""

    importers: Sequence[Any] = []
    exporters: Sequence[Any] = ["csv"]
    page_size = 25

    def can_create(self, request: Request) -> bool:
        return False

    def can_edit(self, request: Request) -> bool:
        return False

    def can_delete(self, request: Request) -> bool:
        return False

    def can_import(self, request: Request) -> bool:
        return False


def admin_credentials(settings: ServiceSettings, short_name: str) -> AdminCredentials:
    assert settings.admin_password_hash is not None
    assert settings.admin_secret_key is not None
    return AdminCredentials(
        username=settings.admin_username,
        password_hash=settings.admin_password_hash.get_secret_value(),
        secret_key=settings.admin_secret_key.get_secret_value(),
        session_cookie=f"{short_name}_admin_session",
        session_max_age_s=settings.admin_session_max_age_s,
        attempts_per_client=settings.admin_login_attempts_per_client,
        attempts_total=settings.admin_login_attempts_total,
    )


def mount_admin(
    app: Starlette,
    *,
    short_name: str,
    title: str,
    settings: ServiceSettings,
    database: Database,
    views: Sequence[BaseView],
) -> None:
    """Mounts the admin of ``views`` at ``/admin/<short_name>`` (the gateway's path too)."""
    base_url = f"/admin/{short_name}"
    route_name = f"admin-{short_name}"
    credentials = admin_credentials(settings, short_name)

    def favicon(request: Request) -> str:
        # Without one, browsers ask for /favicon.ico, which nothing serves.
        return str(request.url_for(f"{route_name}:static", path="favicon.svg"))

    admin = Admin(
        database.sessionmaker,
        title=title,
        base_url=base_url,
        route_name=route_name,
        favicon_url=favicon,
        # Ours first, then starlette-admin's own (never the working directory's "templates").
        templates_dir=TEMPLATES,
        static_dir=STATIC,
        auth_provider=AdminLogin(credentials),
        secret_key=credentials.secret_key,
        middlewares=[Middleware(AdminResponses, base_path=base_url)],
        timezone_config=TimezoneConfig(default_timezone="UTC"),
    )
    for view in views:
        admin.add_view(view)
    admin.mount_to(app)
