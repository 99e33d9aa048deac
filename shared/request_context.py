"""Request ids, the access log and the last-resort 500, as one pure ASGI middleware.

Pure ASGI rather than ``BaseHTTPMiddleware`` because it sits on every request, including
streamed downloads, and must not buffer bodies.

The access log line says what the client got: ``status`` as sent (0 if nothing was),
``bytes`` of body sent, ``complete`` (the body was finished) and, for a response cut short on
purpose (``ResponseAborted``), ``aborted`` with the reason. ``client`` is the address the
gateway saw (its ``X-Real-IP``, which only the gateway sets) or else the socket's peer; a
client's own ``X-Forwarded-For`` is never logged as its address.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_TYPES
from shared.problems import send_problem
from shared.request_id import request_id_var

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_VALID_PREFIX = re.compile(r"^(/[A-Za-z0-9._-]+)+$")

access_log = logging.getLogger("access")
error_log = logging.getLogger("errors")


class ResponseAborted(Exception):
    """Raised from a response body to end it short on purpose, once the reason is logged.

    The headers (and a Content-Length) are gone already, so dropping the connection is the
    only honest signal left to the client. Neither this middleware nor the server logs it as
    an error (``shared.logging_setup`` drops the server's line); the access log says why.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def client_address(scope: Scope) -> str:
    """The address the gateway saw (its ``X-Real-IP``), else the socket's peer ("" if none)."""
    real_ip = Headers(scope=scope).get("x-real-ip", "").strip()
    try:
        return str(ipaddress.ip_address(real_ip))
    except ValueError:
        peer = scope.get("client")
        return str(peer[0]) if peer else ""


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
        sent = 0
        complete = False
        aborted: str | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ResponseAborted as exc:
            aborted = exc.reason
            raise  # the server drops the connection
        except Exception:
            error_log.exception("unhandled error", extra={"fields": {"path": scope["path"]}})
            if status:
                raise  # headers are gone already; let the server drop the connection
            await send_problem(
                send_with_id,
                PROBLEM_TYPES[500],
                detail="The server failed to handle this request; it has been logged.",
                instance=scope["path"],
            )
        finally:
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "bytes": sent,
                "complete": complete,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client_address(scope) or None,
            }
            if aborted is not None:
                fields["aborted"] = aborted
            access_log.info("request", extra={"fields": fields})
            request_id_var.reset(token)
