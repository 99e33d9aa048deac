"""The id of the request being served, for log lines and problem bodies.

It imports nothing of ours, so every module (logging, problems, middleware) may read it
without an import circle.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


def current_request_id() -> str:
    """The id the request context middleware set for this request; "-" outside a request."""
    return request_id_var.get()
