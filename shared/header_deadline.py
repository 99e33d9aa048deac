"""A deadline for each request head, which uvicorn has not got.

uvicorn bounds only the pause between two kept-alive requests (``timeout_keep_alive``): a
client that opens a connection and sends nothing, or trickles a request head a byte at a
time, holds that connection (and its memory) for as long as it likes. The gateway has its own
deadline (``GATEWAY_HEADER_TIMEOUT``); this one protects a service reached on its own port
(a scrape target, a service behind another proxy, a misrouted client).

The deadline starts when a connection opens and when the first byte of each next request
arrives, and it ends when the head is complete; the body has its own minimum rate
(``shared.body_limit``). A client that misses it gets a 408 problem and the connection is
closed, as nginx does at the gateway.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.errors import problem_type


def _timeout_answer(timeout_s: float) -> bytes:
    problem = problem_type(408)
    body = json.dumps(
        {
            "type": problem.uri,
            "title": problem.title,
            "status": problem.status,
            "detail": f"The request head did not arrive within {timeout_s:g} s.",
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"HTTP/1.1 408 {problem.title}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline per request head (``with_deadline``)."""

    header_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    @classmethod
    def with_deadline(cls, timeout_s: float) -> type[HeaderDeadlineProtocol]:
        """The protocol class for uvicorn's ``http=`` option (uvicorn builds one per
        connection, so the setting travels as a class attribute)."""
        return type(cls.__name__, (cls,), {"header_timeout_s": timeout_s})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a kept-alive connection's next request: its first byte has arrived

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_timeout_answer(self.header_timeout_s))
            self.transport.close()
