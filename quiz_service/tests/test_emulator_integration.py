"""POST /quiz against the project's jservice emulator over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.tests.concurrency import (
    PER_REQUEST,
    REQUESTS,
    assert_consistent,
    run_concurrently,
)
from quiz_service.tests.emulator import Emulator
from quiz_service.tests.support import ClientFactory, stored_questions


async def post_quiz(client: httpx.AsyncClient, n: int) -> httpx.Response:
    return await client.post("/quiz", json={"questions_num": n})


async def test_count_cap_and_answers(
    make_client: ClientFactory, emulator: Emulator, db_engine: AsyncEngine
) -> None:
    async with make_client(upstream_url=emulator.random_url, max_questions_num=150) as client:
        assert (await post_quiz(client, 150)).json() == {}
        assert (await emulator.stats())["calls"] == 2
        rows = await stored_questions(db_engine)
        assert len(rows) == 150
        second = (await post_quiz(client, 1)).json()
    assert second["id"] == rows[-1].id
    assert second["upstream_id"] == rows[-1].upstream_id


async def test_repeats_are_replaced_with_new_questions(
    make_client: ClientFactory, emulator: Emulator, db_engine: AsyncEngine
) -> None:
    async with make_client(upstream_url=emulator.random_url) as client:
        assert (await post_quiz(client, 50)).status_code == 200
        await emulator.configure(duplicate_rate=0.5)
        assert (await post_quiz(client, 50)).status_code == 200
    rows = await stored_questions(db_engine)
    assert len(rows) == len({row.upstream_id for row in rows}) == 100
    assert (await emulator.stats())["calls"] > 2


async def test_pool_smaller_than_n(
    make_client: ClientFactory, emulator: Emulator, db_engine: AsyncEngine
) -> None:
    await emulator.configure(pool_size=20)
    async with make_client(upstream_url=emulator.random_url) as client:
        response = await post_quiz(client, 30)
    assert response.status_code == 503
    assert (response.json()["requested"], response.json()["stored"]) == (30, 20)
    assert len(await stored_questions(db_engine)) == 20


@pytest.mark.parametrize(
    ("config", "status"),
    [
        ({"error_rate": 1.0}, 502),
        ({"malformed_rate": 1.0, "malformed_variants": ["truncated_json"]}, 502),
        ({"malformed_rate": 1.0, "malformed_variants": ["html"]}, 502),
        ({"malformed_rate": 1.0, "malformed_variants": ["wrong_shape"]}, 502),
        ({"malformed_rate": 1.0, "malformed_variants": ["missing_fields"]}, 502),
        ({"malformed_rate": 1.0, "malformed_variants": ["wrong_types"]}, 502),
        ({"rate_limit_rate": 1.0}, 503),
        ({"timeout_rate": 1.0, "timeout_sleep_s": 3.0}, 504),
    ],
    ids=[
        "5xx",
        "truncated",
        "html",
        "wrong-shape",
        "missing-fields",
        "wrong-types",
        "429",
        "timeout",
    ],
)
async def test_persistent_fault(
    make_client: ClientFactory,
    emulator: Emulator,
    db_engine: AsyncEngine,
    config: dict[str, object],
    status: int,
) -> None:
    await emulator.configure(**config)
    async with make_client(
        upstream_url=emulator.random_url, request_deadline_s=1.0, upstream_read_timeout_s=0.3
    ) as client:
        started = time.perf_counter()
        response = await post_quiz(client, 5)
        elapsed = time.perf_counter() - started
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["requested"], response.json()["stored"]) == (5, 0)
    assert elapsed < 2.5  # deadline 1 s, plus room for a loaded machine
    assert await stored_questions(db_engine) == []


async def test_intermittent_faults_are_retried(
    make_client: ClientFactory, emulator: Emulator, db_engine: AsyncEngine
) -> None:
    await emulator.configure(error_rate=0.3, malformed_rate=0.2)
    # Eight attempts per call make a run of failures on one call (p ~ 0.45 each) unlikely.
    async with make_client(upstream_url=emulator.random_url, upstream_max_attempts=8) as client:
        responses = [await post_quiz(client, 10) for _ in range(5)]
    assert [response.status_code for response in responses] == [200] * 5
    assert len(await stored_questions(db_engine)) == 50
    assert (await emulator.stats())["calls"] > 5


async def test_hundred_concurrent_requests(
    make_client: ClientFactory, emulator: Emulator, db_engine: AsyncEngine
) -> None:
    # A small pool makes repeats across the 100 requests likely (jservice's own behaviour);
    # the forced-overlap case is test_concurrency's. One emulator process serves all calls
    # one after another, so later rounds queue behind everyone's first: a generous deadline.
    await emulator.configure(pool_size=5_000)
    async with make_client(upstream_url=emulator.random_url, request_deadline_s=20) as client:
        responses = await run_concurrently(client)
    await assert_consistent(responses, db_engine, expected_rows=REQUESTS * PER_REQUEST)
