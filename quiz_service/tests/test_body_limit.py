"""Every quiz route refuses a body over 16 KiB with a 413 problem, before reading it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import respx

from quiz_service.tests.fakes import UPSTREAM_URL
from shared.body_limit import SMALL_BODY_MAX_BYTES
from testkit.problems import assert_problem

JSON = {"content-type": "application/json"}


def padded(size: int) -> bytes:
    """``{"questions_num": 0}`` padded with whitespace to exactly ``size`` bytes."""
    body = b'{"questions_num": 0}'
    return body + b" " * (size - len(body))


async def test_a_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/quiz", content=padded(SMALL_BODY_MAX_BYTES), headers=JSON)
    assert response.status_code == 200, response.text


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(UPSTREAM_URL)
    pulled: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        pulled.append(1)
        yield padded(100 * 1024)

    response = await client.post(
        "/quiz", content=body(), headers={**JSON, "content-length": str(100 * 1024)}
    )
    body_ = assert_problem(response, 413, slug="payload-too-large", instance="/quiz")
    assert str(SMALL_BODY_MAX_BYTES) in body_["detail"]
    assert pulled == [], "not one byte of the body was read"
    assert route.call_count == 0


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    client: httpx.AsyncClient,
) -> None:
    pulled: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b'{"questions_num": 0, "x": ['
        for _ in range(1000):  # 8 MB in all
            pulled.append(1)
            yield b"0," * 4096
        yield b"0]}"

    response = await client.post("/quiz", content=body(), headers=JSON)
    assert_problem(response, 413, slug="payload-too-large")
    # 8 KiB per piece: the limit is passed on the third, and nothing after it is read.
    assert len(pulled) <= 3


async def test_routes_without_a_body_refuse_a_large_one_too(client: httpx.AsyncClient) -> None:
    response = await client.request(
        "GET", "/quiz/questions", content=b"x" * (SMALL_BODY_MAX_BYTES + 1)
    )
    assert_problem(response, 413, slug="payload-too-large")
