"""HTTP over a raw socket, for what httpx will not send: malformed or hand-paced requests.

``exchange`` sends bytes and reads the answer until the gateway closes. ``Pacer`` writes a
request piece by piece, waiting on the socket between pieces, and records what came back,
so a test asserts on what the socket received (an answer, a close, a reset) rather than on
timing. Every loop is bounded.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass

import httpx

READ_SIZE = 65536


def parse_response(raw: bytes) -> httpx.Response:
    """An HTTP/1.x response (status line, headers, body) as an httpx.Response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = [(name, value) for name, _, value in (h.partition(": ") for h in header_lines)]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def exchange(address: tuple[str, int], raw: bytes, timeout: float = 5.0) -> httpx.Response:
    """Send ``raw`` and read until the gateway closes the connection."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(raw)
        response = b""
        while chunk := sock.recv(READ_SIZE):
            response += chunk
    return parse_response(response)


@dataclass
class Paced:
    """What a paced request got: bytes sent, bytes received, and how the connection ended."""

    sent: int = 0
    received: bytes = b""
    closed: bool = False  # the gateway closed (FIN) or reset the connection
    reset: bool = False
    seconds: float = 0.0

    @property
    def response(self) -> httpx.Response:
        return parse_response(self.received)


def pace(
    address: tuple[str, int],
    pieces: list[bytes],
    *,
    wait: float,
    max_waits: int,
    stop_when_answered: bool = False,
) -> Paced:
    """Send ``pieces`` one by one, waiting up to ``wait`` seconds for the gateway between
    them; after the last piece, keep waiting (at most ``max_waits`` waits in all) until the
    gateway closes the connection or, with ``stop_when_answered``, a whole answer came."""
    result = Paced()
    started = time.monotonic()
    with socket.create_connection(address, timeout=5) as sock:
        queue = list(pieces)
        for _ in range(max_waits):
            if queue:
                try:
                    sock.sendall(queue.pop(0))
                except OSError:  # the gateway already reset the connection
                    result.closed = result.reset = True
                    break
                result.sent += 1
            readable, _, _ = select.select([sock], [], [], wait)
            if not readable:
                continue
            try:
                chunk = sock.recv(READ_SIZE)
            except ConnectionResetError:
                result.closed = result.reset = True
                break
            if not chunk:
                result.closed = True
                break
            result.received += chunk
            if stop_when_answered and _complete(result.received):
                break
    result.seconds = time.monotonic() - started
    return result


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = parse_response(head + b"\r\n\r\n").headers.get("content-length")
    return length is not None and len(body) >= int(length)
