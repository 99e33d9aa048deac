"""POST /quiz end to end in-process: real PostgreSQL, upstream faked by respx."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.tests.fakes import UPSTREAM_URL, clue, clues, fake_upstream
from quiz_service.tests.support import ClientFactory, stored_questions
from testkit.jservice import jservice_items
from testkit.problems import assert_problem


def sent_counts(route: respx.Route) -> list[int]:
    return [int(call.request.url.params["count"]) for call in route.calls]


async def post_quiz(client: httpx.AsyncClient, n: int) -> httpx.Response:
    return await client.post("/quiz", json={"questions_num": n})


def assert_ingestion_failed(
    response: httpx.Response, status: int, *, requested: int, stored: int
) -> None:
    body = assert_problem(response, status, requested=requested, stored=stored)
    assert f"Stored {stored} of {requested}" in body["detail"]


async def test_first_request_answers_empty_object_then_last_of_first(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=clues([11, 12, 13])),
        httpx.Response(200, json=clues([21, 22])),
    ]
    first = await post_quiz(client, 3)
    assert first.status_code == 200
    assert first.json() == {}

    second = await post_quiz(client, 2)
    assert second.status_code == 200
    body = second.json()
    rows = await stored_questions(db_engine)
    assert [row.upstream_id for row in rows] == ["11", "12", "13", "21", "22"]
    newest_of_first = rows[2]
    assert body["id"] == newest_of_first.id
    assert body["upstream_id"] == "13"
    assert body["question"] == "Question number 13"
    assert body["source"] == "jservice"
    assert set(body) == {
        "id",
        "source",
        "upstream_id",
        "question",
        "answer",
        "raw_question",
        "raw_answer",
        "category",
        "value",
        "airdate",
        "created_at",
        "saved_at",
    }
    assert sent_counts(route) == [3, 2]


async def test_zero_stores_nothing_and_answers_newest(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(200, json=clues([1, 2]))
    assert (await post_quiz(client, 0)).json() == {}
    assert route.call_count == 0
    await post_quiz(client, 2)
    answer = await post_quiz(client, 0)
    assert answer.json()["upstream_id"] == "2"
    assert route.call_count == 1
    assert len(await stored_questions(db_engine)) == 2


async def test_stored_fields_raw_and_cleaned(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    sample = jservice_items()
    item = next(i for i in sample if i["answer"] == "<i>The Millwright\\'s Daughter</i>")
    upstream.get(UPSTREAM_URL).respond(200, json=[item])
    await post_quiz(client, 1)
    (row,) = await stored_questions(db_engine)
    assert row.raw == item
    assert row.raw_answer == "<i>The Millwright\\'s Daughter</i>"
    assert row.answer == "The Millwright's Daughter"
    assert row.upstream_id == str(item["id"])
    assert row.created_at.isoformat().startswith(item["created_at"][:19])
    assert row.created_at.utcoffset() is not None
    assert row.airdate is not None
    assert row.airdate.isoformat() == item["airdate"][:10]
    assert row.category == item["category"]["title"]
    assert row.value == item["value"]
    assert row.saved_at.utcoffset() is not None

    detail = (await client.get(f"/quiz/questions/{row.id}")).json()
    assert detail["answer"] == "The Millwright's Daughter"
    assert detail["raw_answer"] == "<i>The Millwright\\'s Daughter</i>"
    assert detail["raw"] == item


async def test_empty_questions_are_skipped_and_do_not_count(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=[clue(1), clue(2, question="", answer="week"), clue(3)]),
        httpx.Response(200, json=[clue(4, question="=")]),
        httpx.Response(200, json=[clue(5)]),
    ]
    assert (await post_quiz(client, 3)).status_code == 200
    assert [row.upstream_id for row in await stored_questions(db_engine)] == ["1", "3", "5"]
    # Blanks lower the share of usable items, so later rounds over-fetch (next_fetch_size).
    assert sent_counts(route) == [3, 3, 3]


async def test_duplicates_within_one_response(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=clues([1, 2, 2, 1])),
        httpx.Response(200, json=clues([3, 4])),
    ]
    assert (await post_quiz(client, 4)).status_code == 200
    assert [row.upstream_id for row in await stored_questions(db_engine)] == ["1", "2", "3", "4"]
    # 2 missing, half of what came was new: 2 / ((2 + 1) / (4 + 2)) x 1.25 = 5.
    assert sent_counts(route) == [4, 5]


async def test_duplicates_across_calls_are_fetched_again(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=clues([1, 2, 3])),
        httpx.Response(200, json=clues([2, 3, 4])),  # 2 and 3 are stored already
        httpx.Response(200, json=clues([5, 3])),
        httpx.Response(200, json=clues([6])),
    ]
    await post_quiz(client, 3)
    caplog.set_level(logging.INFO, logger="quiz_service.ingestion")
    assert (await post_quiz(client, 3)).json()["upstream_id"] == "3"
    assert [row.upstream_id for row in await stored_questions(db_engine)] == list("123456")
    # The second request's later rounds over-fetch; the upstream just sends fewer here.
    assert sent_counts(route) == [3, 3, 7, 3]
    (record,) = [r for r in caplog.records if r.getMessage() == "quiz ingestion"]
    fields: dict[str, Any] = record.fields  # type: ignore[attr-defined]
    assert fields["requested"] == 3
    assert fields["stored"] == 3
    assert fields["duplicates"] == 3
    assert fields["discarded"] == 0
    assert fields["fetched"] == 6
    assert fields["upstream_calls"] == 3
    assert fields["rounds"] == 3
    assert fields["outcome"] == "ok"
    assert fields["duration_ms"] >= 0


async def test_pool_smaller_than_n_is_503_with_counts(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    fake = fake_upstream(upstream, pool_size=4)
    async with make_client(max_fetch_rounds=4) as client:
        response = await post_quiz(client, 10)
    assert_ingestion_failed(response, 503, requested=10, stored=4)
    # What was stored stays stored: the committed round survives the failed request.
    assert len(await stored_questions(db_engine)) == 4
    # Exactly N first, then more and more as nothing new comes (capped: 5 calls of 100).
    assert fake.counts == [10, 9, 15, 21]


async def test_max_fetch_rounds_bounds_the_loop(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL)
    # Each round brings exactly one new question: progress, but too slow.
    route.side_effect = [httpx.Response(200, json=clues([i])) for i in range(1, 10)]
    async with make_client(max_fetch_rounds=3) as client:
        response = await post_quiz(client, 5)
    assert_ingestion_failed(response, 503, requested=5, stored=3)
    assert route.call_count == 3


async def test_empty_upstream_is_503(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(200, json=[])
    assert_ingestion_failed(await post_quiz(client, 5), 503, requested=5, stored=0)
    assert route.call_count == 1
    assert await stored_questions(db_engine) == []


async def test_count_cap_splits_into_concurrent_calls(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    fake = fake_upstream(upstream, hold_for_peers=True)
    async with make_client(max_questions_num=150) as client:
        assert (await post_quiz(client, 150)).status_code == 200
    assert sorted(fake.counts) == [50, 100]
    assert fake.max_in_flight == 2  # side by side, not one after the other
    assert len(await stored_questions(db_engine)) == 150


async def test_above_the_cap_with_repeats_splits_then_refills(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=clues(range(1, 101))),
        httpx.Response(200, json=clues(range(51, 151))),  # 50 repeats in the same round
        httpx.Response(200, json=clues(range(151, 201))),
    ]
    async with make_client(max_questions_num=200) as client:
        assert (await post_quiz(client, 200)).status_code == 200
    assert sorted(sent_counts(route)[:2]) == [100, 100]
    # 50 missing, 150 of 200 new: 50 / (151 / 202) x 1.25 = 84, in one call.
    assert sent_counts(route)[2:] == [84]
    assert len(await stored_questions(db_engine)) == 200


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (httpx.ConnectError("connection refused"), 502),
        (httpx.ReadTimeout("timed out"), 504),
        (httpx.Response(500, json={"status": 500, "error": "Internal Server Error"}), 502),
        (httpx.Response(503, text="<html>503</html>"), 502),
        (httpx.Response(404, text="Not Found"), 502),
        (httpx.Response(200, text="<html>maintenance</html>"), 502),
        (httpx.Response(200, text='[{"id": 1, "ans'), 502),
        (httpx.Response(200, json={"clues": []}), 502),
        (httpx.Response(200, json=[{"id": 1, "question": "q"}]), 502),
        (httpx.Response(200, json=[clue(1, id="1"), clue(2, answer=42)]), 502),
    ],
    ids=[
        "connect-error",
        "timeout",
        "500",
        "503",
        "404",
        "non-json",
        "truncated",
        "wrong-shape",
        "missing-fields",
        "wrong-types",
    ],
)
async def test_persistent_upstream_fault(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    fault: Exception | httpx.Response,
    status: int,
) -> None:
    route = upstream.get(UPSTREAM_URL).mock(side_effect=[fault] * 10)
    started = time.perf_counter()
    response = await post_quiz(client, 3)
    assert time.perf_counter() - started < 5.0
    assert_ingestion_failed(response, status, requested=3, stored=0)
    assert await stored_questions(db_engine) == []
    assert 1 <= route.call_count <= 4


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(502, text="<html>502</html>"),
        httpx.Response(429, text="Retry later\n", headers={"Retry-After": "1"}),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=[{"id": 1}]),
    ],
    ids=["connect-error", "timeout", "5xx", "429", "non-json", "missing-fields"],
)
async def test_transient_fault_then_success(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    db_engine: AsyncEngine,
    fault: Exception | httpx.Response,
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [fault, httpx.Response(200, json=clues([1, 2]))]
    assert (await post_quiz(client, 2)).status_code == 200
    assert len(await stored_questions(db_engine)) == 2
    assert route.call_count == 2


async def test_fault_in_a_later_round_keeps_what_was_stored(
    client: httpx.AsyncClient, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [httpx.Response(200, json=clues([1, 2]))] + [httpx.Response(500)] * 4
    assert (await post_quiz(client, 2)).status_code == 200
    route.side_effect = [httpx.Response(200, json=clues([2, 3]))] + [httpx.Response(500)] * 4
    assert_ingestion_failed(await post_quiz(client, 2), 502, requested=2, stored=1)
    assert [row.upstream_id for row in await stored_questions(db_engine)] == ["1", "2", "3"]


async def test_rate_limited_past_the_deadline_is_503_with_retry_after(
    make_client: ClientFactory, upstream: respx.MockRouter
) -> None:
    upstream.get(UPSTREAM_URL).respond(429, text="Retry later\n", headers={"Retry-After": "20"})
    async with make_client(request_deadline_s=1.0) as client:
        started = time.perf_counter()
        response = await post_quiz(client, 5)
    assert time.perf_counter() - started < 3.0  # not the 20 s asked for
    assert_ingestion_failed(response, 503, requested=5, stored=0)
    assert response.headers["retry-after"] == "20"


async def test_deadline_is_504_with_counts(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    fake_upstream(upstream, delay_s=5.0)
    async with make_client(request_deadline_s=0.3) as client:
        started = time.perf_counter()
        response = await post_quiz(client, 5)
    assert time.perf_counter() - started < 2.0  # deadline 0.3 s, not the 5 s the upstream takes
    assert_ingestion_failed(response, 504, requested=5, stored=0)
    assert await stored_questions(db_engine) == []
