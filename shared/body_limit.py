"""Request bodies over a limit get a 413, too slow ones a 408 (pure ASGI middleware).

Every route takes at most ``SMALL_BODY_MAX_BYTES`` unless ``BodyLimits.routes`` names it
(the audio upload). A declared ``Content-Length`` over the route's limit is answered at once,
before the app runs; a body without one (chunked) is counted as it arrives and refused as
soon as it passes the limit, so no parser ever buffers more than the limit. The connection
stays open (the server discards the rest of the body): closing it on a proxy that is still
sending would turn the 413 into the proxy's 502. This module is
where every 413 of the services comes from: the middleware for whole bodies, and
``file_too_large`` for an uploaded file over its own limit inside an accepted body.

A body must also keep up a minimum average rate (``BodyRate``, Kestrel's
``MinRequestBodyDataRate`` model): ``t`` seconds after the request head, at least
``min_bytes_s x (t - grace_s)`` bytes must have arrived. Each read of the body waits only
until the moment that would stop being true; then the body is cut off with a 408 and
``Connection: close``, and nothing more is read. nginx bounds only the pause between two
reads, so this is what stops a body trickling at 1 byte/s (the gateway streams bodies to
the services as they arrive). Once the body is complete nothing is timed any more: a read
after that (a route waiting for the client to disconnect) may wait as long as it likes.

Pure ASGI rather than a route class or ``BaseHTTPMiddleware``: it must run before FastAPI
reads the body, on every request, without buffering anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_TYPES, PayloadTooLarge
from shared.problems import send_problem

CLOSE = {"Connection": "close"}

SMALL_BODY_MAX_BYTES = 16 * 1024
"""Every route but the upload takes a small JSON body at most."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    default: int = SMALL_BODY_MAX_BYTES
    routes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(method, path) -> limit, for the routes that take more than ``default``."""

    def limit(self, method: str, path: str) -> int:
        return self.routes.get((method, path), self.default)


@dataclass(frozen=True, slots=True)
class BodyRate:
    """The slowest body accepted: ``min_bytes_s`` on average once ``grace_s`` have passed."""

    min_bytes_s: int = 0
    """0: no minimum."""
    grace_s: float = 0.0

    def deadline(self, started: float, received: int) -> float | None:
        """When ``received`` bytes stop being enough, for a body begun at ``started``."""
        if self.min_bytes_s <= 0:
            return None
        return started + self.grace_s + received / self.min_bytes_s

    def detail(self) -> str:
        return (
            f"The request body arrived slower than {self.min_bytes_s} bytes/s on average "
            f"(after the first {self.grace_s:g} s)."
        )


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


class BodyTooSlow(HTTPException):
    """Raised from ``receive`` once a body falls below the minimum rate; rendered as a 408
    that closes the connection (the rest of the body will not be read)."""

    def __init__(self, rate: BodyRate) -> None:
        super().__init__(408, rate.detail(), headers=dict(CLOSE))


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isdigit() else None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits, rate: BodyRate | None = None) -> None:
        self.app = app
        self.limits = limits
        self.rate = rate or BodyRate()

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
        complete = False
        started = asyncio.get_running_loop().time()

        async def timed_receive() -> Message:
            deadline = None if complete else self.rate.deadline(started, received)
            if deadline is None:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    return await receive()
            except TimeoutError:
                raise BodyTooSlow(self.rate) from None

        async def counting_receive() -> Message:
            nonlocal received, complete
            message = await timed_receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                # Once the answer has begun, the body no longer matters to anybody.
                if received > limit and not responding:
                    raise BodyTooLarge(limit)
            else:
                complete = True  # http.disconnect: nothing more will come
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
        except BodyTooSlow:
            if responding:
                raise
            await send_problem(
                send,
                PROBLEM_TYPES[408],
                detail=self.rate.detail(),
                instance=scope["path"],
                headers=CLOSE,
            )


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    detail = body_too_large_detail(limit)
    await send_problem(send, PROBLEM_TYPES[413], detail=detail, instance=scope["path"])
