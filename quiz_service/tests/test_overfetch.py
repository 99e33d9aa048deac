"""Over-fetching: later rounds ask for more than is missing, and never store more than N."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.tests.fakes import UPSTREAM_URL, FakeJService, clues, fake_upstream
from quiz_service.tests.support import ClientFactory, stored_questions

N = 100


@pytest.fixture(autouse=True)
def _ingestion_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="quiz_service.ingestion")


def ingestion_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == "quiz ingestion"
    ]


def assert_accounted(fields: dict[str, Any]) -> None:
    """Every item the upstream returned is counted once in the log line."""
    parts = ("stored", "duplicates", "discarded", "blank", "invalid")
    assert fields["fetched"] == sum(fields[part] for part in parts), fields


async def post_quiz(client: httpx.AsyncClient, n: int) -> httpx.Response:
    return await client.post("/quiz", json={"questions_num": n})


async def primed(client: httpx.AsyncClient, fake: FakeJService) -> None:
    """One request without repeats, so there are stored ids for the upstream to repeat."""
    assert (await post_quiz(client, N)).status_code == 200
    assert fake.counts == [N]


async def test_thirty_percent_repeats_in_at_most_three_rounds(
    make_client: ClientFactory,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = fake_upstream(upstream)
    async with make_client() as client:
        await primed(client, fake)
        fake.duplicate_rate = 0.3
        assert (await post_quiz(client, N)).status_code == 200
    rows = await stored_questions(db_engine)
    assert len(rows) == len({row.upstream_id for row in rows}) == 2 * N
    fields = ingestion_lines(caplog)[-1]
    assert fields["stored"] == N
    assert fields["rounds"] <= 3
    assert fields["upstream_calls"] == fields["rounds"]  # under 100 missing: one call a round
    assert fields["duplicates"] >= 30
    assert_accounted(fields)
    assert all(count <= 100 for count in fake.counts)


async def test_ninety_percent_repeats_finish_within_the_round_limit(
    make_client: ClientFactory,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = fake_upstream(upstream, hold_for_peers=True)
    async with make_client(max_fetch_rounds=10, max_calls_per_round=5) as client:
        await primed(client, fake)
        fake.duplicate_rate = 0.9
        response = await post_quiz(client, N)
    assert response.status_code == 200, response.text
    assert len(await stored_questions(db_engine)) == 2 * N
    fields = ingestion_lines(caplog)[-1]
    assert fields["stored"] == N
    assert fields["rounds"] <= 4  # 3 with this fake; asking for only what is missing: > 10
    assert_accounted(fields)
    assert fake.max_in_flight == 5  # over-fetching, side by side, within the bound
    assert all(count <= 100 for count in fake.counts)


async def test_calls_per_round_are_bounded_by_the_setting(
    make_client: ClientFactory,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = fake_upstream(upstream, hold_for_peers=True)
    async with make_client(max_calls_per_round=2) as client:
        await primed(client, fake)
        fake.duplicate_rate = 0.9
        assert (await post_quiz(client, N)).status_code == 200
    assert fake.max_in_flight == 2
    fields = ingestion_lines(caplog)[-1]
    assert fields["upstream_calls"] <= 1 + 2 * (fields["rounds"] - 1)
    assert len(await stored_questions(db_engine)) == 2 * N


async def test_a_round_never_stores_more_than_is_missing(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=clues([1, 1, 1, 1, 1])),  # one new, four repeats
        # 18 asked for; 17 new ones come, after id 1 that is stored already.
        httpx.Response(200, json=clues(range(1, 19))),
    ]
    assert (await post_quiz(client, 5)).status_code == 200
    # The first 4 new ones in the upstream's order; the other 13 are not stored.
    assert [row.upstream_id for row in await stored_questions(db_engine)] == list("12345")
    assert [int(call.request.url.params["count"]) for call in route.calls] == [5, 18]
    (fields,) = ingestion_lines(caplog)
    assert fields["stored"] == 5
    assert fields["duplicates"] == 5
    assert fields["discarded"] == 13
    assert fields["fetched"] == 23
    assert_accounted(fields)


async def test_a_failed_extra_call_does_not_fail_a_round_that_stored_enough(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    counts: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        count = int(request.url.params["count"])
        counts.append(count)
        if len(counts) <= 2:
            return httpx.Response(200, json=clues(range(1, 11)))  # then only repeats
        if count == 50:
            return httpx.Response(500)
        return httpx.Response(200, json=clues(range(1000, 1000 + count)))

    upstream.get(UPSTREAM_URL).mock(side_effect=answer)
    assert (await post_quiz(client, 10)).status_code == 200
    assert (await post_quiz(client, 10)).status_code == 200
    # Nothing new in round 1: 10 / (1 / 12) x 1.25 = 150 as calls of 100 and 50.
    assert sorted(counts[2:4]) == [50, 100]
    assert counts[4:] == [50] * 3  # the failing call's retries
    assert len(await stored_questions(db_engine)) == 20
    assert any(r.getMessage().startswith("upstream call failed") for r in caplog.records)
    fields = ingestion_lines(caplog)[-1]
    assert (fields["stored"], fields["discarded"], fields["outcome"]) == (10, 90, "ok")


async def test_concurrent_calls_of_a_round_returning_the_same_ids(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return httpx.Response(200, json=clues(range(1, 101)))  # then only repeats
        count = int(request.url.params["count"])
        return httpx.Response(200, json=clues(range(1000, 1000 + count)))  # the same ids

    upstream.get(UPSTREAM_URL).mock(side_effect=answer)
    assert (await post_quiz(client, N)).status_code == 200
    assert (await post_quiz(client, N)).status_code == 200
    rows = await stored_questions(db_engine)
    assert len(rows) == len({row.upstream_id for row in rows}) == 2 * N
