"""Request ids, the access log and the last-resort 500, as one pure ASGI middleware.

Pure ASGI rather than ``BaseHTTPMiddleware`` because it sits on every request, including
streamed downloads, and must not buffer bodies.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import PROBLEM_MEDIA_TYPE, internal_error_body
from shared.request_id import request_id_var

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_VALID_PREFIX = re.compile(r"^(/[A-Za-z0-9._-]+)+$")

access_log = logging.getLogger("access")
error_log = logging.getLogger("errors")


def _incoming_request_id(headers: Headers) -> str:
    # A client-chosen id ends up in our logs, so only a safe alphabet is accepted.
    candidate = headers.get(REQUEST_ID_HEADER, "")
    return candidate if _VALID_REQUEST_ID.match(candidate) else uuid.uuid4().hex


class RequestContextMiddleware:
    """Sets the request id, honours the gateway's ``X-Forwarded-Prefix`` and logs each request.

    An exception nothing else handled becomes a problem+json 500 here (full traceback in the
    log, none in the body), so even that response carries the request id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = _incoming_request_id(headers)
        prefix = headers.get("x-forwarded-prefix", "")
        if _VALID_PREFIX.match(prefix):
            # Lets Swagger UI find its OpenAPI document under the gateway's /services/<name>.
            scope = {**scope, "root_path": prefix}
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception("unhandled error", extra={"fields": {"path": scope["path"]}})
            if status:
                raise  # headers are gone already; let the server drop the connection
            status = 500
            body = internal_error_body(scope["path"])
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": headers.get("x-forwarded-for")
                        or (scope["client"][0] if scope.get("client") else None),
                    }
                },
            )
            request_id_var.reset(token)
