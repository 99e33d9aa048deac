"""The one error model of both services.

Every failure a client can see is an ``AppError`` (or becomes one in ``shared.problems``):
it carries its HTTP status, a short stable title and a slug that makes the problem ``type``
URI. Routes, services and repositories raise these; only ``shared.problems`` turns them into
``application/problem+json`` responses (RFC 9457).
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """A failure with a status the client should see. ``extra`` lands in the problem body."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(AppError):
    status = 400
    title = "Bad Request"
    slug = "bad-request"


class Unauthorized(AppError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class NotFound(AppError):
    status = 404
    title = "Not Found"
    slug = "not-found"


class Conflict(AppError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    title = "Payload Too Large"
    slug = "payload-too-large"


class UnsupportedMediaType(AppError):
    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class RangeNotSatisfiable(AppError):
    status = 416
    title = "Range Not Satisfiable"
    slug = "range-not-satisfiable"


class Unprocessable(AppError):
    """The request is well-formed but its content cannot be used (e.g. a WAV without audio)."""

    status = 422
    title = "Unprocessable Content"
    slug = "unprocessable-content"


class BadGateway(AppError):
    status = 502
    title = "Bad Gateway"
    slug = "bad-gateway"


class ServiceUnavailable(AppError):
    status = 503
    title = "Service Unavailable"
    slug = "service-unavailable"


class GatewayTimeout(AppError):
    status = 504
    title = "Gateway Timeout"
    slug = "gateway-timeout"
