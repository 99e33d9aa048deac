"""The real nginx gateway in front of stand-in upstreams on free loopback ports.

The stand-ins play our two services in a gateway-only test: tiny ASGI apps under uvicorn (one
thread each) that answer every request with what they received, as JSON. A ``closer`` accepts a
request and hangs up without answering, to see what nginx retries.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
import uvicorn

from devstack.gateway import NGINX_INSTALL_HINT, Gateway, nginx_binary
from devstack.ports import LOOPBACK, free_port

# Small, so the 413 tests need no big body; the real values are 257m and 16k (see the template).
TEST_MAX_BODY_SIZE = "1k"
TEST_SMALL_BODY_MAX_SIZE = "512"
# Rate limits off: these tests send many requests from one address (tests of the limits
# switch them on).
TEST_SETTINGS = {
    "GATEWAY_SMALL_BODY_MAX_SIZE": TEST_SMALL_BODY_MAX_SIZE,
    "GATEWAY_RATE_LIMITS": "off",
}

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class EchoStats:
    """What a stand-in is doing, for tests to wait on: requests it has begun and not ended."""

    def __init__(self) -> None:
        self.in_progress = 0


def _echo_app(name: str, stats: EchoStats) -> Callable[[dict[str, Any], Receive, Send], Any]:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        stats.in_progress += 1
        try:
            await _echo(name, scope, receive, send)
        finally:
            stats.in_progress -= 1

    return app


async def _echo(name: str, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        k, v = key.decode("latin-1"), value.decode("latin-1")
        headers[k] = f"{headers[k]}, {v}" if k in headers else v
    # X-Echo-Answer-After answers once that many body bytes came, without reading the
    # rest: a service refusing a body part-way (its size limit, its body deadline).
    answer_after = int(headers.get("x-echo-answer-after", "-1"))
    body_bytes = 0
    more_body = True
    while more_body and not 0 <= answer_after <= body_bytes:
        message = await receive()
        body_bytes += len(message.get("body", b""))
        more_body = message.get("more_body", False)
    payload = {
        "instance": name,
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": headers,
        "body_bytes": body_bytes,
    }
    # X-Echo-Status asks for another status, like a service answering with its own error.
    status = int(headers.get("x-echo-status", "200"))
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The gateway must hide this copy and send its own id once.
                (b"x-request-id", b"upstream-copy"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class EchoServer:
    """A stand-in service: uvicorn on a free loopback port in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.stats = EchoStats()
        config = uvicorn.Config(
            _echo_app(name, self.stats),
            host=LOOPBACK,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"stand-in {self.name} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)


class Closer:
    """Accepts connections, reads the request head and closes without answering."""

    def __init__(self) -> None:
        self._sock = socket.create_server((LOOPBACK, 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="closer", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture(scope="session")
def nginx() -> Path:
    binary = nginx_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(NGINX_INSTALL_HINT)
        pytest.skip(NGINX_INSTALL_HINT)
    return binary


@pytest.fixture(scope="session")
def upstreams() -> Iterator[dict[str, EchoServer]]:
    servers = {name: EchoServer(name) for name in ("quiz-a", "quiz-b", "audio-a", "audio-b")}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def gateway(
    nginx: Path, upstreams: dict[str, EchoServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """Both groups healthy, two instances each."""
    with Gateway.local(
        tmp_path_factory.mktemp("gateway"),
        quiz_servers=[upstreams["quiz-a"].address, upstreams["quiz-b"].address],
        audio_servers=[upstreams["audio-a"].address, upstreams["audio-b"].address],
        max_body_size=TEST_MAX_BODY_SIZE,
        settings=TEST_SETTINGS,
        nginx=nginx,
    ) as running:
        yield running


class MakeGateway(Protocol):
    def __call__(
        self,
        quiz_servers: Sequence[str],
        audio_servers: Sequence[str],
        settings: Mapping[str, str] | None = None,
    ) -> Gateway: ...


@pytest.fixture
def make_gateway(nginx: Path, tmp_path: Path) -> Iterator[MakeGateway]:
    """Start a gateway of its own (fresh counters, other settings) in front of the servers."""
    started: list[Gateway] = []

    def make(
        quiz_servers: Sequence[str],
        audio_servers: Sequence[str],
        settings: Mapping[str, str] | None = None,
    ) -> Gateway:
        gateway = Gateway.local(
            tmp_path / f"gateway-{len(started)}",
            quiz_servers=quiz_servers,
            audio_servers=audio_servers,
            max_body_size=TEST_MAX_BODY_SIZE,
            settings={**TEST_SETTINGS, **(settings or {})},
            nginx=nginx,
        )
        gateway.start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def closer() -> Iterator[Closer]:
    server = Closer()
    yield server
    server.stop()


@pytest.fixture
def dead_address() -> str:
    """A loopback address nothing listens on: connections are refused."""
    return f"{LOOPBACK}:{free_port()}"
