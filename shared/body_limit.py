"""Request bodies over a limit get a 413 problem before they are read (pure ASGI middleware).

Every route takes at most ``SMALL_BODY_MAX_BYTES`` unless ``BodyLimits.routes`` names it
(the audio upload). A declared ``Content-Length`` over the route's limit is answered at once,
before the app runs; a body without one (chunked) is counted as it arrives and refused as
soon as it passes the limit, so no parser ever buffers more than the limit. The connection
stays open (the server discards the rest of the body): closing it on a proxy that is still
sending would turn the 413 into the proxy's 502. This module is
where every 413 of the services comes from: the middleware for whole bodies, and
``file_too_large`` for an uploaded file over its own limit inside an accepted body.

Pure ASGI rather than a route class or ``BaseHTTPMiddleware``: it must run before FastAPI
reads the body, on every request, without buffering anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_TYPES, PayloadTooLarge
from shared.problems import send_problem

SMALL_BODY_MAX_BYTES = 16 * 1024
"""Every route but the upload takes a small JSON body at most."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    default: int = SMALL_BODY_MAX_BYTES
    routes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(method, path) -> limit, for the routes that take more than ``default``."""

    def limit(self, method: str, path: str) -> int:
        return self.routes.get((method, path), self.default)


def body_too_large_detail(limit: int) -> str:
    return f"The request body is larger than the {limit} bytes allowed."


def file_too_large(limit: int) -> PayloadTooLarge:
    """The 413 of an uploaded file over its own limit (the body around it may be larger)."""
    return PayloadTooLarge(
        f"The file is larger than the {limit} bytes allowed.", max_upload_bytes=limit
    )


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes its limit. An ``HTTPException`` because
    FastAPI turns anything else raised while it reads a body into "400 error parsing the
    body"; this one it re-raises, and the problem handlers render it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, body_too_large_detail(limit))


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isdigit() else None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.limit(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return

        received = 0
        responding = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                # Once the answer has begun, the body no longer matters to anybody.
                if received > limit and not responding:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal responding
            if message["type"] == "http.response.start":
                responding = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Raised where no handler of the app saw it (e.g. a route reading the stream
            # itself); the problem handlers answer the usual case.
            if responding:
                raise
            await _refuse(scope, send, limit)


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    detail = body_too_large_detail(limit)
    await send_problem(send, PROBLEM_TYPES[413], detail=detail, instance=scope["path"])
