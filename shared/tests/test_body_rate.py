"""The minimum body rate (``BodyRate`` in shared/body_limit.py), against a real uvicorn.

A tiny app built like the services (``create_service_app``) with a route that reads its
body; the client paces its body on a raw socket (``tests.gateway.raw_http.pace``), so what
is asserted is what the socket received. Grace 1 s and 200 bytes/s here (8192 and 10 s by
default): a body at 10 bytes/s is cut off about a second after its head, one at 300
bytes/s passes however long it lasts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import pytest
from fastapi import APIRouter, Request

from shared.app import create_service_app
from shared.db import Database
from shared.settings import ServiceSettings
from testkit.apps import served_app
from tests.gateway.raw_http import pace

router = APIRouter()

GRACE_S = 1.0
MIN_RATE = 200
STEP_S = 0.1


class Settings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///:memory:"


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    database: Database


@asynccontextmanager
async def open_resources(settings: Settings, database: Database) -> AsyncIterator[Resources]:
    yield Resources(settings=settings, database=database)


@router.post("/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    settings = Settings(body_min_rate_bytes_s=MIN_RATE, body_grace_s=GRACE_S, log_format="text")
    app = create_service_app("rate_test", "t", settings, router, partial(open_resources, settings))
    with served_app(app) as served:
        yield served


def head(length: int) -> bytes:
    return (
        b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def test_a_trickling_body_is_cut_off_after_the_grace_period(address: tuple[str, int]) -> None:
    pieces = [b"x"] * 100  # 10 bytes/s: 10 s for the whole body
    paced = pace(address, [head(len(pieces)), *pieces], wait=STEP_S, max_waits=60)
    assert paced.closed, f"still open after {paced.seconds:.1f} s"
    response = paced.response
    assert response.status_code == 408
    assert response.headers["connection"] == "close"
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/request-timeout")
    assert f"{MIN_RATE} bytes/s" in body["detail"]
    # About the grace period plus the few bytes' worth: long before the body's 10 s.
    assert paced.sent < 40
    assert GRACE_S <= paced.seconds < 3 * GRACE_S


def test_a_slow_but_steady_body_passes(address: tuple[str, int]) -> None:
    pieces = [b"y" * 30] * 30  # 300 bytes/s for 3 s: three times the grace period
    length = sum(map(len, pieces))
    paced = pace(
        address, [head(length), *pieces], wait=STEP_S, max_waits=80, stop_when_answered=True
    )
    assert paced.response.status_code == 200
    assert paced.response.json() == {"bytes": length}
    assert paced.seconds >= 2.5  # it really was slow


def test_a_pause_within_the_grace_period_is_allowed(address: tuple[str, int]) -> None:
    """Nothing for half the grace period, then the body at once: on average fast enough.
    (Half, not most: on a loaded machine the last piece may leave a few hundred ms late.)"""
    idle = [b""] * 5  # 0.5 s of nothing (an empty piece sends nothing)
    paced = pace(
        address,
        [head(100), *idle, b"z" * 100],
        wait=STEP_S,
        max_waits=40,
        stop_when_answered=True,
    )
    assert paced.response.status_code == 200
