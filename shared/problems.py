"""Renders every error as ``application/problem+json`` (RFC 9457), from ``shared.errors``.

``install_problem_handlers`` maps our ``AppError`` hierarchy, request validation errors and
Starlette's HTTP errors (routing 404/405, the body limit's 413, a broken multipart 400) to
problem responses. Anything else is a bug: ``RequestContextMiddleware`` logs it with its
traceback and answers a 500 with ``send_problem``, as the body limit answers its 413s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from shared.errors import VALIDATION_ERROR, AppError, ProblemType, problem_type
from shared.request_id import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("errors")


class FieldError(BaseModel):
    field: str = Field(
        description="Dotted location of the offending input, e.g. body.questions_num"
    )
    message: str
    type: str


class Problem(BaseModel):
    """The error body of every non-2xx response of both services and the gateway."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI naming the kind of problem")
    title: str
    status: int
    detail: str
    request_id: str
    instance: str | None = Field(default=None, description="The request path")
    errors: list[FieldError] | None = Field(
        default=None, description="Offending fields, for validation errors only"
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries so the documented schema matches what is sent.

    No ``"model"`` key: FastAPI would also list the schema under the route's own media type
    (``audio/mpeg`` for a download). ``shared.openapi`` adds the component instead.
    """
    return {
        status: {
            "description": problem_type(status).title,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def problem_body(
    problem: ProblemType, *, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    return {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
        "request_id": current_request_id(),
        "instance": instance,
        **extra,
    }


def problem_json(problem: ProblemType, *, detail: str, instance: str) -> bytes:
    """The encoded body, for pure ASGI code that answers without FastAPI's handlers."""
    body = problem_body(problem, detail=detail, instance=instance)
    # Encoded as JSONResponse encodes, so both kinds of answer read alike.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def send_problem(
    send: Send,
    problem: ProblemType,
    *,
    detail: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answers with a problem from pure ASGI code, where FastAPI's handlers do not run."""
    body = problem_json(problem, detail=detail, instance=instance)
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def problem_response(
    request: Request,
    problem: ProblemType,
    *,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(problem, detail=detail, instance=request.url.path, **extra),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
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


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status >= 500:
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else None
        log.warning(
            "%s: %s", exc.problem.title, exc.detail, extra={"fields": {**exc.extra, "cause": cause}}
        )
    return problem_response(
        request, exc.problem, detail=exc.detail, headers=exc.headers, **exc.extra
    )


def validation_problem(request: Request, errors: list[dict[str, str]]) -> JSONResponse:
    summary = "; ".join(f"{err['field']}: {err['message']}" for err in errors[:5])
    return problem_response(
        request, VALIDATION_ERROR, detail=f"The request is invalid: {summary}", errors=errors
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(request, _validation_errors(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's answer to a JSON body that is not UTF-8: invalid JSON, so 422 like the rest.
        error = {"field": "body", "message": "not valid UTF-8", "type": "json_invalid"}
        return validation_problem(request, [error])
    problem = problem_type(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else problem.title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No endpoint at {request.url.path}"
    elif exc.status_code == 405:
        detail = f"Method {request.method} is not allowed on {request.url.path}"
    return problem_response(request, problem, detail=detail, headers=exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
