"""The one error table of both services (and of the gateway), and the errors raised from it.

``PROBLEM_TYPES`` gives every HTTP status we answer with its problem ``type`` slug and one
title (RFC 9110's wording): the problem handlers (``shared.problems``) render from it, the
body-limit middleware does, and a test checks the gateway template's status maps against it.
``VALIDATION_ERROR`` and ``QUOTA_EXCEEDED`` are the second types of a status: 422 for a
request that does not match its schema, as opposed to ``unprocessable-content``, well-formed
input that cannot be used (a WAV without audio); 403 for an upload past the user's quota,
as opposed to ``forbidden``.

``AppError`` and its subclasses are what routes, services and repositories raise for a
failure the client should see; only ``shared.problems`` turns them into
``application/problem+json`` responses (RFC 9457). ``extra`` lands in the problem body,
``headers`` in the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

PROBLEM_TYPE_BASE = "https://problems.quiz-audio.dev/"


@dataclass(frozen=True, slots=True)
class ProblemType:
    status: int
    slug: str
    title: str

    @property
    def uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


def _registry(*rows: tuple[int, str, str]) -> dict[int, ProblemType]:
    return {status: ProblemType(status, slug, title) for status, slug, title in rows}


# Slugs are part of the API (clients match the type URI): they stay as they were even where
# RFC 9110 renamed the status (413 "Payload Too Large" became "Content Too Large").
PROBLEM_TYPES: dict[int, ProblemType] = _registry(
    (400, "bad-request", "Bad Request"),
    (401, "unauthorized", "Unauthorized"),
    (403, "forbidden", "Forbidden"),
    (404, "not-found", "Not Found"),
    (405, "method-not-allowed", "Method Not Allowed"),
    (408, "request-timeout", "Request Timeout"),
    (409, "conflict", "Conflict"),
    (411, "length-required", "Length Required"),
    (412, "precondition-failed", "Precondition Failed"),
    (413, "payload-too-large", "Content Too Large"),
    (414, "uri-too-long", "URI Too Long"),
    (415, "unsupported-media-type", "Unsupported Media Type"),
    (416, "range-not-satisfiable", "Range Not Satisfiable"),
    (422, "unprocessable-content", "Unprocessable Content"),
    (429, "too-many-requests", "Too Many Requests"),
    (431, "request-header-fields-too-large", "Request Header Fields Too Large"),
    (500, "internal-error", "Internal Server Error"),
    (501, "not-implemented", "Not Implemented"),
    (502, "bad-gateway", "Bad Gateway"),
    (503, "service-unavailable", "Service Unavailable"),
    (504, "gateway-timeout", "Gateway Timeout"),
    (505, "http-version-not-supported", "HTTP Version Not Supported"),
)

VALIDATION_ERROR = ProblemType(422, "validation-error", PROBLEM_TYPES[422].title)
# 403's second type: an upload that would take a user past their storage quota.
QUOTA_EXCEEDED = ProblemType(403, "quota-exceeded", PROBLEM_TYPES[403].title)


def problem_type(status: int) -> ProblemType:
    """The registered type of ``status``. A status nobody registered (a framework may raise
    one) gets its RFC phrase, so it is still a readable problem."""
    known = PROBLEM_TYPES.get(status)
    if known is not None:
        return known
    phrase = HTTPStatus(status).phrase
    return ProblemType(status, phrase.lower().replace(" ", "-"), phrase)


class AppError(Exception):
    """A failure with a status the client should see; a subclass names its status with
    ``class NotFound(AppError, status=404)`` and takes title and slug from the table."""

    problem: ClassVar[ProblemType] = PROBLEM_TYPES[500]

    def __init_subclass__(cls, *, status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.problem = PROBLEM_TYPES[status]

    def __init__(
        self, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    @property
    def status(self) -> int:
        return self.problem.status


class BadRequest(AppError, status=400): ...


class Unauthorized(AppError, status=401): ...


class QuotaExceeded(AppError):
    problem = QUOTA_EXCEEDED


class NotFound(AppError, status=404): ...


class Conflict(AppError, status=409): ...


class PayloadTooLarge(AppError, status=413): ...


class UnsupportedMediaType(AppError, status=415): ...


class RangeNotSatisfiable(AppError, status=416): ...


# Well-formed input that cannot be used (a WAV without audio); a request that does not
# match its schema is FastAPI's RequestValidationError (VALIDATION_ERROR).
class Unprocessable(AppError, status=422): ...


class TooManyRequests(AppError, status=429): ...


class BadGateway(AppError, status=502): ...


class ServiceUnavailable(AppError, status=503): ...


# Raised by shared.db only: the database cannot be reached or refuses to serve.
class DatabaseUnavailable(ServiceUnavailable): ...


class GatewayTimeout(AppError, status=504): ...
