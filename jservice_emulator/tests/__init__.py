"""Tests of the jservice emulator, and the few helpers its test modules share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from jservice_emulator import EmulatorSettings, create_app


@asynccontextmanager
async def emulator(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a fresh in-process emulator built with these settings."""
    app = create_app(EmulatorSettings(**settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jservice.test") as client:
        yield client


async def fetch(client: httpx.AsyncClient, count: int | str | None = None) -> httpx.Response:
    params = {} if count is None else {"count": str(count)}
    return await client.get("/api/random", params=params)
