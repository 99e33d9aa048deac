"""Swagger UI (``/docs``) and ReDoc (``/redoc``) of a service, with their files served by it.

FastAPI's own pages load Swagger UI and ReDoc from a CDN. These are the same pages (FastAPI's
``get_swagger_ui_html``/``get_redoc_html``) pointed at ``/docs-assets/``, where the service
serves the copies committed under ``shared/docs_assets/`` with their licenses (npm's
``swagger-ui-dist`` and ``redoc``, fetched by ``python -m devstack.vendor_docs``). Nothing
else is fetched: no Google fonts for ReDoc, and no validator badge for Swagger UI (it would
send the document's URL to swagger.io). Behind the gateway every URL starts with the
``X-Forwarded-Prefix`` (``/services/quiz``), which ``shared.request_context`` makes the root
path.
"""

from __future__ import annotations

import json
import mimetypes
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse

from shared.errors import NotFound

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(str(files("shared") / "docs_assets"))
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
ASSETS_CACHE_CONTROL = "public, max-age=86400"


def vendored_files() -> dict[str, Path]:
    """``"<package dir>/<file>"`` -> its path, for every file ``vendor.json`` lists."""
    manifest = json.loads((ASSETS_DIR / "vendor.json").read_text())
    return {
        f"{entry['directory']}/{name}": ASSETS_DIR / entry["directory"] / name
        for entry in manifest
        for name in entry["files"]
    }


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def install_docs(app: FastAPI) -> None:
    """Adds the docs pages to an app made with ``docs_url=None, redoc_url=None``."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    assets = vendored_files()

    # A route, not a mounted StaticFiles: behind the gateway the root path is the
    # X-Forwarded-Prefix while the path is not prefixed, which a mount cannot resolve.
    @app.get(f"{ASSETS_URL}/{{directory}}/{{name}}", include_in_schema=False)
    async def docs_asset(directory: str, name: str) -> FileResponse:
        path = assets.get(f"{directory}/{name}")
        if path is None:
            raise NotFound("No such file of the docs pages.")
        media_type = mimetypes.guess_type(path.name)[0] or "text/plain"
        headers = {"Cache-Control": ASSETS_CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
        return FileResponse(path, media_type=media_type, headers=headers)

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/swagger-ui/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )
