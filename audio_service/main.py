"""The audio service's ASGI app factory (`uvicorn --factory audio_service.main:create_app`)."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from audio_service import admin, api
from audio_service.metrics import AudioMetrics
from audio_service.resources import open_resources
from audio_service.settings import AudioSettings
from shared.app import create_service_app
from shared.body_limit import BodyLimits
from shared.metrics import create_registry

DESCRIPTION = """\
Users upload WAV files; the service converts them to MP3, stores them in its database and
answers with a download link.

1. `POST /user` with `{"name": "..."}` → your `user_id` and `token` (keep the token: it is
   shown only once).
2. `POST /record` as `multipart/form-data` with `user_id`, `token` and `file` (the token may
   instead come as `Authorization: Bearer <token>`) → the record, with its `url`.
3. `GET /record?id=<record_id>&user=<user_id>` → the MP3 (ranges, ETag and HEAD supported).

Errors are `application/problem+json` (RFC 9457).
"""


def create_app(settings: AudioSettings | None = None) -> FastAPI:
    settings = settings or AudioSettings()
    limits = BodyLimits(routes={("POST", "/record"): api.upload_body_limit(settings)})
    registry = create_registry()
    resources = partial(open_resources, settings, AudioMetrics(registry))
    edits = [api.document_settings(settings)]
    app = create_service_app(
        "audio_service",
        DESCRIPTION,
        settings,
        api.router,
        resources,
        body_limits=limits,
        openapi_edits=edits,
        admin_views=admin.admin_views,
        registry=registry,
    )
    return app
