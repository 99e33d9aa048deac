"""Running a service app: in-process (httpx over ASGI), or under a real uvicorn.

``running_app`` is the fast default. ``served_app`` runs the app under uvicorn on a free
loopback port, in a thread with its own event loop, for what only a real server shows:
a client's pace on the socket, a client that disconnects, ``Connection: close``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from devstack.ports import LOOPBACK, free_port
from shared.header_deadline import HeaderDeadlineProtocol


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Runs the app's lifespan and yields a client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@contextmanager
def served_app(
    app: FastAPI, start_timeout_s: float = 10.0, header_timeout_s: float = 10.0
) -> Iterator[tuple[str, int]]:
    """The app under uvicorn (lifespan included) on 127.0.0.1, with the services' own
    protocol (its request head deadline); yields its address."""
    config = uvicorn.Config(
        app,
        host=LOOPBACK,
        port=free_port(),
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="none",
        proxy_headers=False,
        http=HeaderDeadlineProtocol.with_deadline(header_timeout_s),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="served-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start the app")
            time.sleep(0.01)
        yield LOOPBACK, config.port
    finally:
        server.should_exit = True
        thread.join(10)
