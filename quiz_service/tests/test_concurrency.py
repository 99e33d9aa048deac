"""Many POST /quiz at once against one upstream: no duplicate, no 5xx, honest answers."""

from __future__ import annotations

import asyncio

import httpx
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.tests.concurrency import (
    PER_REQUEST,
    REQUESTS,
    assert_consistent,
    run_concurrently,
)
from quiz_service.tests.fakes import UPSTREAM_URL, clues, fake_upstream
from quiz_service.tests.support import ClientFactory


async def test_hundred_concurrent_requests_with_unique_upstream_ids(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    fake = fake_upstream(upstream, delay_s=0.01)
    async with make_client(request_deadline_s=20) as client:
        responses = await run_concurrently(client)
    await assert_consistent(responses, db_engine, expected_rows=REQUESTS * PER_REQUEST)
    assert fake.counts == [PER_REQUEST] * REQUESTS


async def test_hundred_concurrent_requests_racing_for_the_same_ids(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    """Every call starts with ids everyone else gets too: only the database can arbitrate."""
    served = 0
    lock = asyncio.Lock()

    async def overlapping(request: httpx.Request) -> httpx.Response:
        nonlocal served
        count = int(request.url.params["count"])
        async with lock:
            # Half of each answer repeats the previous answer's ids, in reverse order.
            start = max(1, served - count // 2 + 1)
            ids = list(range(start, start + count))
            served = ids[-1]
        await asyncio.sleep(0.005)
        return httpx.Response(200, json=clues(reversed(ids)))

    upstream.get(UPSTREAM_URL).mock(side_effect=overlapping)
    async with make_client(request_deadline_s=20) as client:
        responses = await run_concurrently(client)
    await assert_consistent(responses, db_engine, expected_rows=REQUESTS * PER_REQUEST)


async def test_hundred_concurrent_requests_over_fetching_among_repeats(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    """Half of every answer repeats ids served before (once any were): rounds over-fetch and
    discard, and still no request stores more (or fewer) than its own five."""
    fake = fake_upstream(upstream, delay_s=0.005, duplicate_rate=0.5)
    async with make_client(request_deadline_s=20) as client:
        responses = await run_concurrently(client)
    await assert_consistent(responses, db_engine, expected_rows=REQUESTS * PER_REQUEST)
    assert max(fake.counts) > PER_REQUEST  # later rounds did over-fetch
