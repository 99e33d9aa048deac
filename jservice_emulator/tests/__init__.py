"""Tests of the jservice emulator, and the few helpers its test modules share."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from jservice_emulator import EmulatorSettings, create_app

# ../shared sits beside the checkout, in CI as on a developer's machine.
SAMPLE_PATH = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "jservice_random_sample.json"
)


def load_sample() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))
    return items


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
