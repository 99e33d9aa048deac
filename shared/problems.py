"""Renders every error as ``application/problem+json`` (RFC 9457), in one place.

``install_problem_handlers`` maps our ``AppError`` hierarchy, request validation errors,
routing errors (404/405) and an unreachable database to problem responses. Anything else is
caught by ``RequestContextMiddleware`` and rendered with ``internal_error_body``.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import AppError, ServiceUnavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://problems.quiz-audio.dev/"

log = logging.getLogger("errors")

_SLUG_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    416: "range-not-satisfiable",
    422: "validation-error",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}


class FieldError(BaseModel):
    field: str = Field(
        description="Dotted location of the offending input, e.g. body.questions_num"
    )
    message: str
    type: str


class Problem(BaseModel):
    """The error body of every non-2xx response of both services and the gateway."""

    type: str = Field(description="URI naming the kind of problem")
    title: str
    status: int
    detail: str
    request_id: str
    instance: str | None = Field(default=None, description="The request path")
    errors: list[FieldError] | None = Field(
        default=None, description="Offending fields, for validation errors only"
    )
    model_config = {"extra": "allow"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries so the documented schema matches what is sent.

    No ``"model"`` key: FastAPI would also list the schema under the route's own media type
    (``audio/mpeg`` for a download). ``register_problem_schema`` adds the component instead.
    """
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def register_problem_schema(app: FastAPI) -> None:
    """Adds ``Problem`` (and what it nests) to the app's OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _, definitions = models_json_schema(
                [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions.get("$defs", {}))
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _body(
    *, status: int, slug: str, title: str, detail: str, request_id: str, instance: str, **extra: Any
) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
        "instance": instance,
        **extra,
    }


def internal_error_body(request_id: str, path: str) -> bytes:
    return json.dumps(
        _body(
            status=500,
            slug="internal-error",
            title="Internal Server Error",
            detail="The server failed to handle this request; it has been logged.",
            request_id=request_id,
            instance=path,
        )
    ).encode()


def problem_response(
    request: Request,
    *,
    status: int,
    detail: str,
    slug: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    from shared.request_context import current_request_id

    return JSONResponse(
        _body(
            status=status,
            slug=slug or _SLUG_BY_STATUS.get(status, "error"),
            title=title or HTTPStatus(status).phrase,
            detail=detail,
            request_id=current_request_id(),
            instance=request.url.path,
            **extra,
        ),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_name(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # Only location, message and kind: echoing the input back could be huge or sensitive.
    return [
        {
            "field": _field_name(err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


# SQLSTATEs of a server that cannot serve anybody right now (not of a wrong query): class 08
# (connection exception), 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now
# ("the database system is shutting down" / "is starting up"), 53300 too_many_connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_database_unavailable(exc: BaseException) -> bool:
    """True for failures that mean "cannot reach the database", not "the query is wrong"."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        code = _sqlstate(exc)
        if code is not None and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES):
            return True
    return isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.TimeoutError
        | ConnectionError
        | TimeoutError
        | socket.gaierror,
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        if exc.status >= 500:
            log.warning("%s: %s", exc.title, exc.detail, extra={"fields": exc.extra})
        headers = exc.extra.pop("headers", None)
        return problem_response(
            request,
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            headers=headers,
            **exc.extra,
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        summary = "; ".join(f"{err['field']}: {err['message']}" for err in errors[:5])
        return problem_response(
            request,
            status=422,
            title="Validation Error",
            detail=f"The request is invalid: {summary}",
            errors=errors,
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's answer to a JSON body that is not UTF-8: invalid JSON, so 422 like the rest.
            return problem_response(
                request,
                status=422,
                title="Validation Error",
                detail="The request is invalid: body: the JSON body is not valid UTF-8",
                errors=[{"field": "body", "message": "not valid UTF-8", "type": "json_invalid"}],
            )
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No endpoint at {request.url.path}"
        elif exc.status_code == 405:
            detail = f"Method {request.method} is not allowed on {request.url.path}"
        return problem_response(
            request, status=exc.status_code, detail=detail, headers=dict(exc.headers or {})
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not is_database_unavailable(exc):
            raise exc  # a real bug: the middleware logs it and answers 500
        log.warning("database unavailable: %s", type(exc).__name__)
        error = ServiceUnavailable("The database is unavailable; retry later.")
        return problem_response(
            request, status=error.status, slug=error.slug, title=error.title, detail=error.detail
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for db_exc in (
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        ConnectionError,
        TimeoutError,
        socket.gaierror,
    ):
        app.add_exception_handler(db_exc, database_error)
